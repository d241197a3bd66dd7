--[[
  Adds or replaces tasks, atomically: one task, or a batch in one call (each judged alone).

  KEYS[1]  schedule sorted set       {name}:schedule
  KEYS[2]  stream                    {name}:stream
  KEYS[3]  strikes version string    {name}:strikes:version
  KEYS[4]  events log stream         {name}:events:log

  ARGV[1]  now, epoch ms
  ARGV[2]  mode: "add" (idempotent) or "replace"
  ARGV[3]  strikes version the caller checked the tasks against
  ARGV[4]  events channel
  ARGV[5]  task record key prefix    {name}:task:
  ARGV[6]  what each task is, one character per task in order: "1" its key was made up just now (a
           random UUID: no record can exist, so none is looked up), "0" a given key, "d" a given
           key added with debounce, "t" a given key added with throttle
  ARGV[7]  most events the events log keeps (0: write no events)
  ARGV[8]  throttle window key prefix {name}:throttle:
  ARGV[9]  the throttle windows (ms) of the tasks marked "t", in order, separated by spaces
  ARGV[10..] per task, five slots, or six when the call carries trace contexts (the count of
           slots over the count of tasks in ARGV[6] tells which):
           task key (stored form), task name, params (JSON), due time (epoch ms),
           a random generation to start from when the key has no record (so that a late message
           of an earlier, deleted incarnation of the key never matches the new one),
           the trace context of the add, "traceparent[;tracestate]" ("" for none)

  Task record keys are built here from the prefix, as move-due, finish and start (read mode) do: a
  batch of a thousand would otherwise send a thousand more key names. They share the shadow's hash
  tag, so they live in the same cluster slot as the declared keys; so do the throttle windows.

  Debounce ("d"): the task is scheduled at its due time (now + debounce) even should that have just
  passed, so that it always waits; while the key's task is still scheduled, mode add replaces it
  (moving it, with the new params, as a fresh task) instead of answering a duplicate. A queued or
  running task is a duplicate as ever: its run is under way.
  Throttle ("t"): a task stored opens the window, a string "<due> <task>" with a PX TTL (mode
  replace restarts it). In mode add, any add of a key whose window is open is a duplicate, even
  once its task finished; the window's copy answers for a record that has expired meanwhile. A
  duplicate leaves the window as it is.

  A record stores no params when they are {} (the readers default them), and a scheduled record no
  due time: its score in the schedule is the one truth; move-due writes it into the record. Its
  trace context (field trace) is stored only when the add had one: a call without any sends five
  slots a task, and an untraced add costs neither a byte nor a command more. The record keeps it
  through retries, redeliveries, perpetual runs and a retry of the finished task, for start.lua.

  Each task stored (not a duplicate) appends an "added" event with its state to the events log
  (see src/redis/event-log.ts).

  Returns
    { "stale" }   the caller's strikes are out of date; nothing written
    otherwise one reply per task:
    an integer    stored: 0 queued, 1 scheduled, plus 2 when it replaced a live task, plus 4 when
                  a debounced add moved the key's scheduled task
    { state, when, task, params }   mode add and the key is scheduled, queued or running, or
                  within a throttle window: a duplicate; state and params are "" when the window
                  outlived the task's record
    A call that already ran (sent again after a dropped connection) answers 0 or 1 for each task,
    by its state now, and writes nothing.
]]
local schedule, stream, log = KEYS[1], KEYS[2], KEYS[4]
local now, mode, channel, prefix, kinds = tonumber(ARGV[1]), ARGV[2], ARGV[4], ARGV[5], ARGV[6]
local eventsLimit, throttlePrefix = ARGV[7], ARGV[8]
-- the next throttle window, for each task marked "t" in turn
local nextWindow = string.gmatch(ARGV[9], '%d+')
local FIRST = 10
local MADE_UP, DEBOUNCED, THROTTLED = 49, 100, 116 -- '1', 'd', 't'
-- slots per task: 6 when the call carries trace contexts (see ARGV[10..])
local SLOTS = #kinds > 0 and (#ARGV - FIRST + 1) / #kinds or 5

if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then
  return { 'stale' }
end

-- what the task whose slots start at ARGV[n] is (see ARGV[6])
local function kindOf(n)
  return string.byte(kinds, (n - FIRST) / SLOTS + 1)
end

-- A call sent again after a dropped connection (the client resends what got no reply) may have
-- run already, whole. Its first made-up key tells: no other add can have made that key's record.
-- Run again, it would queue its tasks twice; so it changes nothing and answers what is stored.
local firstMadeUp = string.find(kinds, '1', 1, true)
if firstMadeUp and redis.call('EXISTS', prefix .. ARGV[FIRST + (firstMadeUp - 1) * SLOTS]) == 1 then
  local stored = {}
  for m = FIRST, #ARGV, SLOTS do
    stored[#stored + 1] = redis.call('HGET', prefix .. ARGV[m], 'state') == 'scheduled' and 1 or 0
  end
  return stored
end

local NONE = {}
local replies = {}
-- The schedule entries of made-up keys go in one ZADD: no task can meet such a key in this call
-- or before it, so the entries wait until a task that reads the schedule or records comes, or the
-- end. One call for hundreds of entries spares Redis most of the per-call cost.
local pending, pendingCount = {}, 0
local function flush()
  if pendingCount > 0 then
    redis.call('ZADD', schedule, unpack(pending, 1, pendingCount))
    pendingCount = 0
  end
end
-- the earliest due time this call scheduled: when the schedule's head is due no earlier than that,
-- the head is (almost always) a task added here and schedulers must hear of it
local earliest = nil

local function addTask(n)
  local key, task, params, due, seed = ARGV[n], ARGV[n + 1], ARGV[n + 2], tonumber(ARGV[n + 3]), ARGV[n + 4]
  -- the record's trace field, as the last arguments of the HSET that writes the record (none: NONE)
  local traced = SLOTS == 6 and ARGV[n + 5] ~= '' and { 'trace', ARGV[n + 5] } or NONE

  local record = prefix .. key
  local old = NONE
  local kind = kindOf(n)
  local fresh = kind == MADE_UP
  local throttle = kind == THROTTLED and nextWindow() or nil
  if not fresh then
    flush()
    old = redis.call('HMGET', record, 'state', 'when', 'task', 'params', 'gen', 'sid')
  end
  local oldState = old[1]
  local live = oldState == 'scheduled' or oldState == 'queued' or oldState == 'running'
  local debounced = kind == DEBOUNCED and oldState == 'scheduled'
  local stores = not live or mode == 'replace' or debounced

  -- an add that would store the key is a duplicate while the key's throttle window is open
  local window = false
  if stores and mode == 'add' and not fresh then
    window = redis.call('GET', throttlePrefix .. key)
    if window then
      stores = false
    end
  end

  if not stores then
    local heldWhen, heldTask = old[2] or redis.call('ZSCORE', schedule, key), old[3]
    if window and not (heldWhen and heldTask) then
      -- the record expired while the window is open: the window's copy answers
      local space = string.find(window, ' ', 1, true)
      heldWhen = heldWhen or string.sub(window, 1, space - 1)
      heldTask = heldTask or string.sub(window, space + 1)
    end
    replies[#replies + 1] = { oldState or '', heldWhen, heldTask, oldState and (old[4] or '{}') or '' }
  else
    -- kept as text (digits, never an exponent): a number handed to Redis is formatted again
    local gen = old[5] and string.format('%.0f', tonumber(old[5]) + 1) or seed
    local replaced = 0
    if live then
      -- mode add reaches here only to debounce: that moves the task, it does not replace it
      replaced = mode == 'replace' and 2 or 0
      if oldState == 'scheduled' then
        redis.call('ZREM', schedule, key)
      elseif oldState == 'queued' and old[6] then
        redis.call('XDEL', stream, old[6])
      elseif oldState == 'running' then
        -- the running attempt is aborted; its outcome is ignored because the generation moved on
        redis.call('PUBLISH', channel, 'cancel ' .. old[5] .. ' ' .. key)
      end
    end
    if oldState then
      redis.call('DEL', record)
    end
    if params ~= '{}' then
      redis.call('HSET', record, 'params', params)
    end
    if debounced then
      replaced = replaced + 4
    end
    local state = 'queued'
    -- a debounced task always waits in the schedule, even when its due time has just passed
    if due <= now and kind ~= DEBOUNCED then
      local id = queueMessage(stream, key, task, '', traced[2] or '', params)
      redis.call('HSET', record, 'task', task, 'when', ARGV[n + 3], 'state', 'queued', 'gen', gen, 'sid', id, unpack(traced))
      replies[#replies + 1] = replaced
    else
      state = 'scheduled'
      redis.call('HSET', record, 'task', task, 'state', 'scheduled', 'gen', gen, unpack(traced))
      if fresh then
        pending[pendingCount + 1] = ARGV[n + 3]
        pending[pendingCount + 2] = key
        pendingCount = pendingCount + 2
        if pendingCount >= 1000 then
          flush()
        end
      else
        redis.call('ZADD', schedule, ARGV[n + 3], key)
      end
      if not earliest or due < earliest then
        earliest = due
      end
      replies[#replies + 1] = 1 + replaced
    end
    if throttle then
      redis.call('SET', throttlePrefix .. key, ARGV[n + 3] .. ' ' .. task, 'PX', throttle)
    end
    appendEvent(log, eventsLimit, 'added', key, task, '', state, '')
  end
end

-- Redis does not undo a script that fails half way: should a task fail, the schedule entries of
-- the records already written still go in, so that no record is left scheduled with no entry
local ok, err = pcall(function()
  for n = FIRST, #ARGV, SLOTS do
    addTask(n)
  end
end)
flush()
if not ok then
  error(err)
end

-- wake sleeping schedulers when a task added here became the next one due (asked at the end: a
-- later replace in the same call may have moved a task scheduled earlier in it). A head due no
-- earlier than this call's earliest task is one of them; or a task due in the very same ms or,
-- should the earliest have been replaced later in the call, a later one: a spare wake-up costs a
-- scheduler at most one look at the schedule.
if earliest then
  local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  if head[2] and tonumber(head[2]) >= earliest then
    redis.call('PUBLISH', channel, 'due ' .. head[2])
  end
end
return replies
