--[[
  Records the outcome of a batch of attempts and acknowledges their messages. An outcome is applied
  only while the record still belongs to that attempt (same generation, running on this worker, or
  queued for "defer"); otherwise the message is only acknowledged, because the task was replaced
  or cancelled meanwhile, or left alone when another worker reclaimed it.

  KEYS[1]  stream                    {name}:stream
  KEYS[2]  schedule sorted set       {name}:schedule
  KEYS[3]  events log stream         {name}:events:log
  KEYS[4]  limit groups waiting      {name}:limits

  ARGV[1]  consumer group
  ARGV[2]  worker name
  ARGV[3]  now, epoch ms
  ARGV[4]  execution TTL in ms (0: delete the record of a finished task)
  ARGV[5]  events channel
  ARGV[6]  task record key prefix    {name}:task:
  ARGV[7]  history index prefix      {name}:ended:
  ARGV[8]  most tasks each history index keeps (0: keep no history)
  ARGV[9]  most events the events log keeps (0: write no events)
  ARGV[10] finished channel          {name}:finished
  ARGV[11] slot prefix               {name}:slots:
  ARGV[12] waiting prefix            {name}:waiting:
  ARGV[13] lease of a concurrency slot handed on, ms
  ARGV[14] the newest stream id among the outcomes
  ARGV[15] how many of the outcomes are plain completions (completed, no result, no slot held)
  ARGV[16..] the plain completions first, three slots each: stream id, task key (stored form),
           generation; then every other outcome, seven slots each: stream id, task key, generation
           ("" when the worker knows none: a message it did not start names none, and its stream id
           decides), outcome, data, due time, the concurrency group whose slot the attempt holds
           ("" for none). Most outcomes of a busy worker are plain: each slot sent costs the worker
           and Redis about as much as a short command's whole reply
    outcome  completed  data = result JSON ("" for none)
             failed     data = error JSON
             cancelled  data = error JSON
             struck     data = error JSON naming the strike
             retry      data = error JSON, due = when the next attempt is due
             again      data = result JSON, due = when the next run of a perpetual task is due
             again-failed  as again, after a failed run: data = error JSON
             defer      due = when to offer the task again: one interrupted by shutdown, or
                        delivered while the worker closed (attempt unchanged)
             unknown-defer  due = when to offer again a task this worker does not know (also
                        one it reclaimed from a dead worker); data = the worker's time (epoch ms),
                        kept as the time of the first such deferral (unknownSince) unless one is
                        kept already; the record counts the deferral (deferrals)
             unknown-failed  data = error JSON: no worker knew the task for the worker's
                        unknownTaskTimeout; it ends failed, as failed does

  Task record keys and history index keys are built here from their prefixes, as add, move-due
  and start (read mode) do: a batch of outcomes would otherwise send each key twice. They share the
  shadow's hash tag, so they live in the same cluster slot as the declared keys.

  A task that ends (completed, failed, cancelled, struck) enters the history index of its state
  and the one of its state and task name (streams, one entry per index for the whole batch: see
  shared.lua); each index written is trimmed here, of entries older than the execution TTL (their
  records expired) and past the most it keeps, oldest first, and expires an execution TTL after
  its last write. Every outcome applied appends its event to the log (completed, failed,
  cancelled, struck, retrying; the run of a perpetual task completed or failed, with the state it
  went back to), and the keys of the tasks that ended go out in one message on the finished
  channel, for whoever waits on them.

  An attempt that holds a concurrency slot gives it back, whatever became of its task, unless
  another worker took its message over (and the slot with it); the oldest task waiting for the
  slot takes it (see shared.lua).

  Returns the number of outcomes applied.
]]
local stream, schedule, log = KEYS[1], KEYS[2], KEYS[3]
local group, worker, now, ttl, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
-- as given, for writing: a number handed to Redis is formatted again on every call
local nowText, ttlText = ARGV[3], ARGV[4]
local prefix, historyPrefix, historyLimit, eventsLimit, finishedChannel = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]
local FIRST = 15
local nowMs = tonumber(ARGV[3])
local slots = {
  stream = stream, prefix = prefix, slotPrefix = ARGV[11], waitPrefix = ARGV[12], limitsIndex = KEYS[4],
  now = nowMs, lease = tonumber(ARGV[13]),
}

-- the tasks this batch ended, by finished state: all of them, and by task name; one history entry
-- per index, not per task (see shared.lua's writeHistory)
local endedBy = {}
local function remember(state, task, key)
  local inState = endedBy[state]
  if not inState then
    inState = { all = {}, byTask = {} }
    endedBy[state] = inState
  end
  local keys = inState.byTask[task]
  if not keys then
    keys = {}
    inState.byTask[task] = keys
  end
  keys[#keys + 1] = key
  inState.all[#inState.all + 1] = key
end
local ended = {}

local final = { completed = 'result', failed = 'error', cancelled = 'error', struck = 'error' }

-- due is written as given: Lua formats a number with 14 digits, which turns a due time past the
-- year 5138 into 2.534023008e+14, a millisecond off. Returns the state the task is in now.
local function requeue(record, key, due, task)
  if tonumber(due) <= now then
    local id = requeueMessage(stream, record, key, task)
    redis.call('HSET', record, 'state', 'queued', 'when', due, 'sid', id)
    return 'queued'
  else
    -- the schedule holds the due time of a scheduled task (see add.lua)
    redis.call('HSET', record, 'state', 'scheduled')
    redis.call('HDEL', record, 'sid', 'when')
    scheduleAt(schedule, channel, key, due)
    return 'scheduled'
  end
end

local applied = 0
local acked = {}
-- Applies one outcome.
local function apply(id, key, gen, outcome, data, due, slot)
  local record = prefix .. key
  -- what every outcome needs
  local f = redis.call('HMGET', record, 'gen', 'state', 'worker', 'sid', 'error', 'task', 'attempt')
  -- the outcome belongs to the record's current message only (see start.lua); a generation of ""
  -- (a message that names none, as queueMessage writes them) leaves it to the stream id
  local current = (gen == '' or f[1] == gen) and f[4] == id
  local mine = f[2] == 'running' and f[3] == worker
  local owned = current and mine
  -- the outcomes a worker writes for a message it did not start
  local unstarted = outcome == 'defer' or outcome == 'unknown-defer' or outcome == 'unknown-failed'
  if unstarted and current and not mine then
    -- a task never started, or one running on a dead worker whose message this worker
    -- reclaimed (it holds the pending entry) but cannot run
    owned = f[2] == 'queued'
      or (f[2] == 'running' and #redis.call('XPENDING', stream, group, id, id, 1, worker) > 0)
  end
  -- a message another worker reclaimed is that worker's to acknowledge
  local reclaimed = current and f[2] == 'running' and f[3] ~= worker and not owned
  -- the record's own queued message, for an attempt Redis has no trace of: it restarted from a
  -- snapshot taken before that start. The message must stay and run again: nothing Redis kept is lost
  local rolledBack = not owned and f[2] == 'queued' and f[4] == id
  if not reclaimed and not rolledBack then
    acked[#acked + 1] = id
  end
  if slot ~= '' and not reclaimed then
    releaseSlot(slot, id, slots)
  end
  if owned then
    applied = applied + 1
    local task, attempt = f[6] or '', f[7] or '1'
    if outcome == 'unknown-failed' then
      -- it ends as a failure does, in the history of failed tasks, and may be retried
      outcome = 'failed'
      redis.call('HDEL', record, 'deferrals', 'unknownSince')
    end
    local field = final[outcome]
    if field then
      if ttl > 0 then
        if data ~= '' then
          redis.call('HSET', record, 'state', outcome, 'finished', nowText, field, data)
        else
          redis.call('HSET', record, 'state', outcome, 'finished', nowText)
        end
        if outcome == 'completed' and f[5] then
          -- a success after retries: the earlier attempt's error no longer describes the task
          redis.call('HDEL', record, 'error')
        end
        redis.call('PEXPIRE', record, ttlText)
        if historyLimit > 0 then
          remember(outcome, task, key)
        end
      else
        redis.call('DEL', record)
      end
      ended[#ended + 1] = key
      -- the result stays in the record: the event says the task completed, not what it returned
      appendEvent(log, eventsLimit, outcome, key, task, attempt, '', field == 'error' and data or '')
    elseif outcome == 'retry' then
      local next = tostring((tonumber(attempt) or 1) + 1)
      redis.call('HSET', record, 'attempt', next, 'error', data)
      redis.call('HDEL', record, 'progress', 'deliveries')
      local state = requeue(record, key, due, task)
      appendEvent(log, eventsLimit, 'retrying', key, task, next, state, data)
    elseif outcome == 'again' or outcome == 'again-failed' then
      redis.call('HDEL', record, 'result', 'error', 'progress', 'deliveries', 'attempt')
      redis.call('HSET', record, 'finished', nowText)
      if data ~= '' then
        redis.call('HSET', record, outcome == 'again' and 'result' or 'error', data)
      end
      local state = requeue(record, key, due, task)
      -- the run ended, the task did not: the event carries the state its next run waits in
      if outcome == 'again' then
        appendEvent(log, eventsLimit, 'completed', key, task, attempt, state, '')
      else
        appendEvent(log, eventsLimit, 'failed', key, task, attempt, state, data)
      end
    elseif outcome == 'defer' or outcome == 'unknown-defer' then
      if mine then
        -- interrupted by shutdown: the worker did not die with it, so this delivery does not count
        redis.call('HINCRBY', record, 'deliveries', -1)
      end
      if outcome == 'unknown-defer' then
        -- what the next worker that does not know the task backs off and times out from
        redis.call('HINCRBY', record, 'deferrals', 1)
        redis.call('HSETNX', record, 'unknownSince', data)
      end
      requeue(record, key, due, task)
    end
  end
end
local plain = tonumber(ARGV[FIRST])
for n = FIRST + 1, FIRST + 3 * plain, 3 do
  apply(ARGV[n], ARGV[n + 1], ARGV[n + 2], 'completed', '', '', '')
end
for n = FIRST + 1 + 3 * plain, #ARGV, 7 do
  apply(ARGV[n], ARGV[n + 1], ARGV[n + 2], ARGV[n + 3], ARGV[n + 4], ARGV[n + 5], ARGV[n + 6])
end

-- the index of each state and task name, and the index of the state with all of them
for state, inState in pairs(endedBy) do
  for task, keys in pairs(inState.byTask) do
    writeHistory(historyPrefix, state .. ':' .. task, keys, nowText, ttlText, historyLimit)
  end
  writeHistory(historyPrefix, state, inState.all, nowText, ttlText, historyLimit)
end
if #ended > 0 then
  redis.call('PUBLISH', finishedChannel, table.concat(ended, ' '))
end

-- a stream id "ms-seq" as two numbers, to compare ids
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- whether the id (ams, aseq) comes before (bms, bseq)
local function before(ams, aseq, bms, bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end

if #acked > 0 then
  redis.call('XACK', stream, group, unpack(acked))
  -- Acknowledged messages leave the stream. Messages are delivered in id order, so every message
  -- older than both the oldest one still pending and the newest outcome here was delivered and
  -- acknowledged: trimming them off the head costs a fraction of deleting each one. Only messages
  -- at or past the oldest pending one (e.g. behind a long task) are deleted one by one. (An
  -- outcome not acknowledged here is pending, another worker's, or past the last delivered one.)
  local cms, cseq = parse(ARGV[14])
  -- the cut: just past the newest outcome, or the oldest pending message if older, and never past
  -- the last one the group delivered: after Redis restarted from a snapshot, outcomes arrive for
  -- messages it has not delivered (again) yet
  cseq = cseq + 1
  local newest = true
  local pending = redis.call('XPENDING', stream, group)
  if pending[1] > 0 then
    local pms, pseq = parse(pending[2])
    if before(pms, pseq, cms, cseq) then
      cms, cseq, newest = pms, pseq, false
    end
  end
  local lms, lseq = parse(lastDelivered(stream, group) or '0-0')
  if before(lms, lseq + 1, cms, cseq) then
    cms, cseq, newest = lms, lseq + 1, false
  end
  redis.call('XTRIM', stream, 'MINID', string.format('%.0f-%.0f', cms, cseq))
  -- past the newest outcome, the cut left none of them; otherwise those at or past it go one by one
  if not newest then
    local rest = {}
    for _, id in ipairs(acked) do
      local ms, seq = parse(id)
      if not before(ms, seq, cms, cseq) then rest[#rest + 1] = id end
    end
    if #rest > 0 then
      redis.call('XDEL', stream, unpack(rest))
    end
  end
end
return applied
