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
-- head. XADD's MAXLEN, in entries, bounds it too: never more entries than `limit`.
local EVENTS_PER_ENTRY = 100
local events, eventsLog, eventsKeep = {}, nil, nil

-- Collects one event for the log, unless `limit` (the most events the log keeps) is "0".
local function appendEvent(log, limit, type, key, task, attempt, state, data)
  if limit ~= '0' then
    eventsLog, eventsKeep = log, limit
    events[#events + 1] = type .. '\31' .. key .. '\31' .. task .. '\31' .. attempt .. '\31' .. state .. '\31' .. data
  end
end

-- Trims the head of the log of the entries whose events all came before the last `keep` of the
-- `total` appended, a page of entries at a time: up to twice what the log was given since the last
-- trim (`every` events, at least one entry each), so that it keeps up however the events came.
local function trimEvents(total, keep, every)
  local cut = total - keep
  for _ = 1, math.ceil(2 * every / 100) do
    local head = redis.call('XRANGE', eventsLog, '-', '+', 'COUNT', 100)
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
      -- the first entry to keep: everything before it goes
      if #stale > 0 then redis.call('XTRIM', eventsLog, 'MINID', first) end
      return
    end
    if #stale > 0 then redis.call('XDEL', eventsLog, unpack(stale)) end
    if #head < 100 then return end
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
  local keep = tonumber(eventsKeep)
  local every = math.max(1, math.floor(keep / 10))
  if math.floor(total / every) ~= math.floor(before / every) then
    trimEvents(total, keep, every)
  end
  events = {}
end

-- Adds `entries` ({ score, member, score, member, ... }) to a history index, then trims it of the
-- entries older than the execution TTL `ttl` (their records expired) and of the oldest past the
-- `limit` it keeps; the index expires an execution TTL after its last write.
local function writeHistory(index, entries, now, ttl, limit)
  redis.call('ZADD', index, unpack(entries))
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. string.format('%.0f', tonumber(now) - tonumber(ttl)))
  redis.call('ZREMRANGEBYRANK', index, 0, -limit - 1)
  redis.call('PEXPIRE', index, ttl)
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
  now and deadline (numbers: now and now + the lease).
]]

-- Admits up to `room` of the oldest tasks waiting for a slot of `group`: each gets a slot (held by
-- the message it is queued with again) and goes back on the stream. A waiting entry whose record
-- moved on (cancelled, replaced) is dropped. Keeps the group's place in the index. Returns how
-- many were admitted.
local function admitWaiting(group, room, c)
  local waitKey, slotsKey = c.waitPrefix .. group, c.slotPrefix .. group
  local admitted = 0
  while admitted < room do
    local head = redis.call('ZPOPMIN', waitKey)
    if not head[1] then break end
    local key = head[1]
    local record = c.prefix .. key
    local f = redis.call('HMGET', record, 'state', 'waiting', 'gen', 'task', 'sid')
    if f[1] == 'queued' and f[2] == group and not f[5] then
      local id = redis.call('XADD', c.stream, '*', 'key', key, 'gen', f[3], 'task', f[4])
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
