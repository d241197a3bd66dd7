--[[
  Helpers that more than one script needs. Redis runs each script alone, so src/redis/scripts.ts
  loads every script with this file's text ahead of its own; it only defines local functions.
]]

-- The events log (see src/redis/event-log.ts). A script collects the events of the transitions it
-- makes with appendEvent, and they are written when it ends (flushEvents, which
-- src/redis/scripts.ts calls after every script) as one entry per EVENTS_PER_ENTRY events: one
-- XADD per script call instead of one per event is most of what events cost. An entry's fields:
--   n  how many events the log was ever given, up to this entry's last (the count key below)
--   e  its events, separated by \30; each one's six fields (type key task attempt state data)
--      separated by \31 (neither ever appears raw in a key, a task name or JSON)
-- The log keeps the last `limit` events: {log}:count counts every event appended, and once in a
-- while (each tenth of `limit`) the entries whose events all lie further back are trimmed off its
-- head (trimCounted). XADD's MAXLEN, in entries, bounds it too: never more entries than `limit`.
local EVENTS_PER_ENTRY = 100
local events, eventsLog, eventsKeep = {}, nil, nil

-- Collects one event for the log, unless `limit` (the most events the log keeps) is "0".
local function appendEvent(log, limit, type, key, task, attempt, state, data)
  if limit ~= '0' then
    eventsLog, eventsKeep = log, limit
    events[#events + 1] = type .. '\31' .. key .. '\31' .. task .. '\31' .. attempt .. '\31' .. state .. '\31' .. data
  end
end

-- Trims off the head of `log` (a stream whose entries count in field n what it was ever given, up
-- to their last item: the events log, a history index) the entries whose items all lie at or before
-- item `cut`, looking at up to `budget` entries. Entries are read a page at a time, from one entry
-- on, doubling: an entry holds up to a hundred items, and reading one costs Redis its whole text,
-- while the first entry alone is all a trim that finds nothing to trim reads.
local function trimCounted(log, cut, budget)
  local page, from = 1, '-'
  while budget > 0 do
    local head = redis.call('XRANGE', log, from, '+', 'COUNT', page)
    local stale = {}
    local first
    for _, entry in ipairs(head) do
      local fields = entry[2]
      -- an entry of another layout is left to MAXLEN
      if fields[1] ~= 'n' or (tonumber(fields[2]) or cut + 1) > cut then
        first = entry[1]
        break
      end
      stale[#stale + 1] = entry[1]
    end
    if first then
      -- the first entry to keep: everything before it goes (earlier pages went already)
      if #stale > 0 then redis.call('XTRIM', log, 'MINID', first) end
      return
    end
    if #stale > 0 then redis.call('XDEL', log, unpack(stale)) end
    if #head < page then return end
    budget = budget - page
    from = '(' .. head[#head][1]
    page = math.min(100, page * 2)
  end
end

-- Writes the events collected (see appendEvent) to the log.
local function flushEvents()
  local count = #events
  if count == 0 then return end
  local total = redis.call('INCRBY', eventsLog .. ':count', count)
  local before = total - count
  for first = 1, count, EVENTS_PER_ENTRY do
    local last = math.min(count, first + EVENTS_PER_ENTRY - 1)
    redis.call('XADD', eventsLog, 'MAXLEN', '~', eventsKeep, '*', 'n', before + last, 'e', table.concat(events, '\30', first, last))
  end
  -- once in each tenth of what the log keeps: up to twice what came since the last trim (at least
  -- one entry each), so that the trims keep up however the events came
  local keep = tonumber(eventsKeep)
  local every = math.max(1, math.floor(keep / 10))
  if math.floor(total / every) ~= math.floor(before / every) then
    trimCounted(eventsLog, total - keep, 2 * every)
  end
  events = {}
end

-- The history indexes (see src/redis/keys.ts): a stream per finished state, and per state and task
-- name, of the tasks that ended in it, the newest last. An entry holds the stored keys of up to
-- HISTORY_PER_ENTRY tasks that one script call ended, in three fields:
--   n  how many tasks the index was ever given, up to this entry's last
--   t  when they ended, epoch ms: their records' `finished`
--   k  their stored keys, separated by \31 (never part of a key)
-- One entry per call and index costs Redis a fraction of a sorted-set member per task. What each
-- index was ever given is counted beside the indexes too, in one hash per shadow (the prefix
-- without its last ":", {name}:ended: index name after the prefix -> count, expiring with the
-- indexes), so that a write need not read the index's newest entry, up to a hundred keys long. A task that
-- ended, was run again and ended again is in an index twice: only the entry whose `t` is its
-- record's `finished` lists it (list.lua), and only the last `limit` tasks given to an index are
-- listed, whatever it still holds.
local HISTORY_PER_ENTRY = 100

-- How many tasks a history index was ever given, from its newest entry (0 for none).
local function historyCount(index)
  local newest = redis.call('XREVRANGE', index, '+', '-', 'COUNT', 1)[1]
  if newest and newest[2][1] == 'n' then
    return tonumber(newest[2][2]) or 0
  end
  return 0
end

-- Adds `keys` (stored keys of tasks that ended at `at`, epoch ms as their records have it) to the
-- history index `prefix`..`name`, and trims it: of the entries older than the execution TTL `ttl`
-- (their records expired), and once in each tenth of `limit` of the tasks past the last `limit`.
-- The index and the counts expire an execution TTL after their last write.
local function writeHistory(prefix, name, keys, at, ttl, limit)
  local index, counts = prefix .. name, string.sub(prefix, 1, -2)
  local count = #keys
  local total = redis.call('HINCRBY', counts, name, count)
  if total == count then
    -- counted afresh (the first write, or the counts expired or went while the index lived): the
    -- index's newest entry says how many it was given before
    local given = historyCount(index)
    if given > 0 then
      total = redis.call('HINCRBY', counts, name, given)
    end
  end
  redis.call('PEXPIRE', counts, ttl)
  local before = total - count
  for first = 1, count, HISTORY_PER_ENTRY do
    local last = math.min(count, first + HISTORY_PER_ENTRY - 1)
    redis.call('XADD', index, '*', 'n', before + last, 't', at, 'k', table.concat(keys, '\31', first, last))
  end
  redis.call('XTRIM', index, 'MINID', string.format('%.0f', math.max(0, tonumber(at) - tonumber(ttl))))
  local every = math.max(1, math.floor(limit / 10))
  if math.floor(total / every) ~= math.floor(before / every) then
    trimCounted(index, total - limit, 2 * every)
  end
  redis.call('PEXPIRE', index, ttl)
end

-- A task's message on the stream (see src/redis/stream.ts): one field, `run`, holding what a run
-- needs beside its record's generation and due time, separated by \31: key, task, attempt ("" for
-- the first), trace context ("" for none; "~" in front for a later run of a task that ran before,
-- whose record has a finished time: that run's span links to the add's instead of joining its
-- trace), params (JSON, last: it may hold anything). One field: each value that crosses from Redis
-- into a script costs about as much as a short command, so the start script takes a message whole,
-- and a run's params, attempt and trace come with it instead of from the record. The message's
-- stream id is what ties it to its record (the record's sid): a replaced task gets a new message.
-- The first attempt of a task without params or trace context is only "key \31 task": the bytes
-- of most queued tasks. Returns the message's id.
local function queueMessage(stream, key, task, attempt, trace, params)
  if attempt == '' and trace == '' and params == '{}' then
    return redis.call('XADD', stream, '*', 'run', key .. '\31' .. task)
  end
  return redis.call('XADD', stream, '*', 'run', key .. '\31' .. task .. '\31' .. attempt .. '\31' .. trace .. '\31' .. params)
end

-- Queues the task `key` (task name `task`) again from the four fields of its record that `f` holds
-- from index `at` on, as RECORDED_RUN names them: its params, attempt and trace context, and
-- whether it finished a run before (see queueMessage). A caller that reads the record anyway asks
-- for these in the same HMGET. Returns the message's id.
local RECORDED_RUN = { 'params', 'attempt', 'trace', 'finished' }
local function queueRecorded(stream, key, task, f, at)
  local trace = f[at + 2] or ''
  if trace ~= '' and f[at + 3] then
    trace = '~' .. trace
  end
  return queueMessage(stream, key, task, f[at + 1] or '', trace, f[at] or '{}')
end

-- Queues the task of `record` (stored key `key`, task name `task`) again, with the params, attempt
-- and trace context its record holds. Returns the message's id.
local function requeueMessage(stream, record, key, task)
  return queueRecorded(stream, key, task, redis.call('HMGET', record, unpack(RECORDED_RUN)), 1)
end

-- What a message on the stream names: its stored key, generation, task name and attempt ("" for
-- the first), and its run field as written (nil for a message of the earlier layout, whose
-- key, gen and task fields name no attempt). Both layouts are read: a message of the earlier one
-- may still wait on the stream. The run field (see queueMessage) names no generation: "" (its
-- stream id says whether it is its record's current message). Nil for a message that names no
-- key (written by hand).
local function messageHead(fields)
  if fields[1] == 'run' then
    local run = fields[2]
    -- cut at the separators with plain finds: a pattern would try each shorter key before failing
    -- on the short form
    local a = string.find(run, '\31', 1, true)
    if not a or a == 1 then return nil end
    local b = string.find(run, '\31', a + 1, true)
    if not b then
      -- the short form: a first attempt without params or trace context
      return string.sub(run, 1, a - 1), '', string.sub(run, a + 1), '', run
    end
    local c = string.find(run, '\31', b + 1, true)
    return string.sub(run, 1, a - 1), '', string.sub(run, a + 1, b - 1), string.sub(run, b + 1, (c or 0) - 1), run
  end
  local key, gen, task
  for j = 1, #fields, 2 do
    local name = fields[j]
    if name == 'key' then key = fields[j + 1] elseif name == 'gen' then gen = fields[j + 1] elseif name == 'task' then task = fields[j + 1] end
  end
  if not key or not gen then return nil end
  return key, gen, task, '', nil
end

-- Puts `key` in the schedule due at `due` (epoch ms, as text: see finish.lua's requeue), and wakes
-- the sleeping schedulers (a "due" push on `channel`) when it is now the next task due.
local function scheduleAt(schedule, channel, key, due)
  redis.call('ZADD', schedule, due, key)
  if redis.call('ZRANGE', schedule, 0, 0)[1] == key then
    redis.call('PUBLISH', channel, 'due ' .. due)
  end
end

-- The id of the last message the consumer group `group` of `stream` delivered, or nil when there
-- is no such group.
local function lastDelivered(stream, group)
  for _, fields in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #fields, 2 do
      if fields[i] == 'name' then name = fields[i + 1] elseif fields[i] == 'last-delivered-id' then last = fields[i + 1] end
    end
    if name == group then return last end
  end
  return nil
end


--[[
  Concurrency limits (see src/redis/limits.ts). A limit group is a task name, or a task name, "|"
  and the value of the parameter it is limited by. Per group:
    {slotPrefix}{group}   sorted set: the stream id of each attempt holding a slot -> the time its
                          lease ends (renewed with the worker's claims; a dead worker's lapses)
    {waitPrefix}{group}   sorted set: the key of each task waiting for a slot -> when it arrived;
                          its record is queued, with no message and its group in `waiting`
  and {limits} (`limitsIndex`) holds each group that has tasks waiting -> when a lease of its ends,
  for the sweep that frees lapsed slots (limits.lua).

  `c` carries what these need: stream, prefix (task records), slotPrefix, waitPrefix, limitsIndex,
  now (the caller's clock, epoch ms) and lease (ms); timeLeases adds deadline (now + the lease).
]]

-- `now` (epoch ms, the caller's clock), or Redis's clock when that is later.
local function laterClock(now)
  local t = redis.call('TIME')
  return math.max(now, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end

-- Sets the clock of the leases `c` hands out, once per call: the caller's, or Redis's when that is
-- later. A call that waited before it ran (its client held it while Redis was away, or Redis was
-- busy) must not hand out a lease that lapsed already: the next call would free that slot under a
-- task still running, and let one task too many in.
local function timeLeases(c)
  if not c.deadline then
    c.now = laterClock(c.now)
    c.deadline = c.now + c.lease
  end
end

-- Admits up to `room` of the oldest tasks waiting for a slot of `group`: each gets a slot (held by
-- the message it is queued with again) and goes back on the stream. A waiting entry whose record
-- moved on (cancelled, replaced) is dropped. Keeps the group's place in the index. Returns how
-- many were admitted.
local function admitWaiting(group, room, c)
  timeLeases(c)
  local waitKey, slotsKey = c.waitPrefix .. group, c.slotPrefix .. group
  local admitted = 0
  while admitted < room do
    local head = redis.call('ZPOPMIN', waitKey)
    if not head[1] then break end
    local key = head[1]
    local record = c.prefix .. key
    local f = redis.call('HMGET', record, 'state', 'waiting', 'task', 'sid', unpack(RECORDED_RUN))
    if f[1] == 'queued' and f[2] == group and not f[4] then
      local id = queueRecorded(c.stream, key, f[3], f, 5)
      redis.call('HSET', record, 'sid', id)
      redis.call('HDEL', record, 'waiting')
      redis.call('ZADD', slotsKey, string.format('%.0f', c.deadline), id)
      admitted = admitted + 1
    end
  end
  if admitted > 0 then
    redis.call('PEXPIRE', slotsKey, string.format('%.0f', c.deadline - c.now))
  end
  if redis.call('EXISTS', waitKey) == 0 then
    redis.call('ZREM', c.limitsIndex, group)
  else
    -- the sweep looks again when the first lease may lapse (at once when no slot is held)
    local first = redis.call('ZRANGE', slotsKey, 0, 0, 'WITHSCORES')
    redis.call('ZADD', c.limitsIndex, first[2] or string.format('%.0f', c.now), group)
  end
  return admitted
end

-- The attempt of message `id` gives back its slot of `group`; the oldest waiting task takes it.
local function releaseSlot(group, id, c)
  if redis.call('ZREM', c.slotPrefix .. group, id) == 1 then
    admitWaiting(group, 1, c)
  end
end
