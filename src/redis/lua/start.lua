--[[
  Starts tasks for one worker: each message whose record still matches it (same generation, not
  cancelled) becomes running; stale messages are acknowledged and dropped. Either for messages the
  worker already read (mode "ids" or "reclaimed"), or reading new ones here first (mode "read"),
  which saves a round trip while there is work waiting.

  KEYS[1]    stream                    {name}:stream
  KEYS[2]    strikes version string    {name}:strikes:version
  KEYS[3]    events log stream         {name}:events:log
  KEYS[4]    schedule sorted set       {name}:schedule
  KEYS[5]    limit groups waiting      {name}:limits
  KEYS[6..]  modes ids and reclaimed: the task record of each message, in message order

  ARGV[1]  consumer group
  ARGV[2]  worker name (consumer)
  ARGV[3]  now, epoch ms (rate limits and the leases of concurrency slots are counted from this or
           Redis's clock, whichever is later)
  ARGV[4]  strikes version the worker holds
  ARGV[5]  mode: "ids", "reclaimed" (taken over from a dead worker: a running record is expected)
           or "read"
  ARGV[6]  most events the events log keeps (0: write no events)
  ARGV[7]  task record key prefix    {name}:task:
  ARGV[8]  the limits of the tasks this worker runs, one entry per limited task, entries separated
           by \30, fields by \31: task name, concurrency limit, its parameter, rate limit, its
           window (ms), its parameter ("" where none)
  ARGV[9]  lease of a concurrency slot, ms (the worker's redelivery timeout)
  ARGV[10] slot prefix               {name}:slots:
  ARGV[11] waiting prefix            {name}:waiting:
  ARGV[12] rate window prefix        {name}:rate:
  ARGV[13] events channel
  ARGV[14..] modes ids and reclaimed: per message, stream id and generation ("" for a message that
           names none: its stream id alone says whether it is the current one)
           mode read: most messages to read, then the names of the tasks this worker runs (a
           message naming another task is not started)

  Limits (see shared.lua and src/redis/limits.ts): a task with a rate limit whose window is full is
  scheduled again for the moment the window allows it, with that start reserved in the window
  ({ratePrefix}{group}: start or reservation -> its time); a task with a concurrency limit and no
  free slot waits for one, off the stream, oldest first; neither uses an attempt. A task that has a
  slot holds it under its message's id until its outcome is written (finish.lua).

  Each task started appends a "started" event to the events log (see src/redis/event-log.ts).

  In mode read the record keys are built here from the prefix, as they are only known once the
  stream is read; they share the shadow's hash tag, so they live in the same cluster slot. A message
  read there whose task has no limits is started from what it carries (see queueMessage in
  shared.lua): its record is only asked whether the message is still its current one. Every other
  (a limited task, a message of the earlier key/gen/task layout, modes ids and reclaimed) is
  started from its record.

  A record already running on this worker is started again too: that happens when a call was
  resent after a dropped connection. The worker itself skips messages it is running.

  Returns { "stale" } when the worker's strikes are out of date (nothing read or changed), else one
  string per message, its fields separated by the unit separator \31 (one string instead of a nested
  array costs Redis and the client far less to encode and parse; params, JSON, comes last):
    go <id> <deliveries> <generation> <when> <the message's run field: key task attempt trace params>
                mode read, a task without limits started from its message (attempt "" for 1)
    run <id> <key> <generation> <task> <when> <attempt> <deliveries> <slot group> <trace> <params>
                trace: the record's trace context as add.lua stored it ("" for none), with "~" in
                front for a later run of a perpetual or cron task (its record has a finished time:
                the run's span links to the add's rather than joining its trace)
    unknown <id> <key> <generation> <deferrals> <unknown since> <task>
                mode read: a task this worker does not run, not started; with the record's
                count of deferrals as unknown so far and the time of the first ("" when none)
                (the task comes last: a message written by hand may name anything)
    drop <id>
    skip <id>   mode reclaimed: the message is no longer this worker's; left alone
    wait <id>   held back by a limit: waiting for a slot, or scheduled for its rate window
]]
local stream, log, schedule, group, worker = KEYS[1], KEYS[3], KEYS[4], ARGV[1], ARGV[2]
local now, mode, eventsLimit, prefix = ARGV[3], ARGV[5], ARGV[6], ARGV[7]
local SEP = '\31'
local FIRST = 14

if (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return { 'stale' }
end

-- the limits of this worker's tasks, by name
local limits = {}
for entry in string.gmatch(ARGV[8], '[^\30]+') do
  local f = {}
  for field in string.gmatch(entry .. SEP, '([^\31]*)\31') do
    f[#f + 1] = field
  end
  limits[f[1]] = { slots = tonumber(f[2]), slotsBy = f[3], rate = tonumber(f[4]), per = tonumber(f[5]), rateBy = f[6] }
end
local nowMs = tonumber(now)
local slots = {
  stream = stream, prefix = prefix, slotPrefix = ARGV[10], waitPrefix = ARGV[11], limitsIndex = KEYS[5],
  now = nowMs, lease = tonumber(ARGV[9]),
}
local ratePrefix, channel = ARGV[12], ARGV[13]

local function drop(id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  return 'drop' .. SEP .. id
end

-- The group of a limit by parameter `by` ("": the task as a whole): "task|value", the value as a
-- string as JSON has it (a string without quotes; a missing one is "").
local function groupOf(task, by, params)
  if by == '' then return task end
  local ok, decoded = pcall(cjson.decode, params)
  local value = ok and type(decoded) == 'table' and decoded[by] or nil
  local kind = type(value)
  if kind == 'string' then
    return task .. '|' .. value
  elseif kind == 'number' then
    return task .. '|' .. (value == math.floor(value) and string.format('%.0f', value) or tostring(value))
  elseif kind == 'boolean' then
    return task .. '|' .. tostring(value)
  elseif kind == 'table' then
    return task .. '|' .. cjson.encode(value)
  end
  return task .. '|'
end

-- Where a message stands in the line of its group: by its stream id, as one exact number (ms * 1000
-- + sequence, up to 999 in one ms), so that tasks that came in the same millisecond keep their order.
local function arrival(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.format('%.0f', tonumber(ms) * 1000 + math.min(tonumber(seq), 999))
end

-- The message leaves the stream: its task waits elsewhere (the caller says where).
local function holdBack(record, id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  redis.call('HDEL', record, 'sid')
  return 'wait' .. SEP .. id
end

-- The time rate limits are judged at, as the leases of concurrency slots (see timeLeases in
-- shared.lua): the caller's clock, or Redis's when that is later. A call that waited before it ran
-- (a stalled connection, Redis busy) must not count its starts at the moment it was sent: later
-- calls would drop them from the window too early, and let more in.
local function rateNow()
  timeLeases(slots)
  return slots.now
end

-- Rate limit: the time (ms) at which a start fits in the window of `rateKey` (limit, per ms),
-- counting the starts of the last `per` ms and those reserved ahead: now when fewer than `limit`,
-- else `per` after the limit-th newest.
local function rateFits(rateKey, limit, per)
  local nowMs = rateNow()
  redis.call('ZREMRANGEBYSCORE', rateKey, '-inf', string.format('%.0f', nowMs - per))
  local n = redis.call('ZCARD', rateKey)
  if n < limit then return nowMs end
  local nth = redis.call('ZRANGE', rateKey, n - limit, n - limit, 'WITHSCORES')
  return math.max(nowMs, tonumber(nth[2]) + per)
end

-- Records a start (or reservation) at `at` in the window, which expires once its newest entry left it.
local function rateTake(rateKey, member, at, per)
  local nowMs = rateNow()
  redis.call('ZADD', rateKey, string.format('%.0f', at), member)
  if redis.call('PTTL', rateKey) < at - nowMs + per then
    redis.call('PEXPIRE', rateKey, string.format('%.0f', at - nowMs + per))
  end
end

-- Whether the limits of `task` let this message start now. Returns ok, slot group ("" for none),
-- or false and the reply when the task was held back.
local function admit(record, id, key, task, params, reserved, lim)
  local rateKey, rateMember
  if lim.rate then
    local nowMs = rateNow()
    rateKey = ratePrefix .. groupOf(task, lim.rateBy, params)
    local at = nowMs
    local place = reserved and redis.call('ZSCORE', rateKey, reserved)
    if place then
      -- a task scheduled for its window starts in the place reserved for it, or later when its
      -- scheduler or worker was late: it is counted when it starts, so the starts of the last
      -- `per` ms (and the places of those still to start) must leave it room now
      local recent = redis.call('ZRANGEBYSCORE', rateKey, '(' .. string.format('%.0f', nowMs - lim.per), string.format('%.0f', nowMs), 'WITHSCORES')
      local before = {}
      for i = 1, #recent, 2 do
        if recent[i] ~= reserved then before[#before + 1] = tonumber(recent[i + 1]) end
      end
      if #before >= lim.rate then
        at = before[#before - lim.rate + 1] + lim.per
        redis.call('ZREM', rateKey, reserved)
      end
      rateMember = reserved
    else
      at = rateFits(rateKey, lim.rate, lim.per)
      rateMember = id
    end
    if at > nowMs then
      local member = key .. '@' .. string.format('%.0f', at)
      rateTake(rateKey, member, at, lim.per)
      if lim.slots then
        -- a slot handed to this message while it waited goes on to the next in line
        releaseSlot(groupOf(task, lim.slotsBy, params), id, slots)
      end
      local reply = holdBack(record, id)
      local due = string.format('%.0f', at)
      redis.call('HSET', record, 'state', 'scheduled', 'rated', member)
      redis.call('HDEL', record, 'when')
      scheduleAt(schedule, channel, key, due)
      return false, reply
    end
  end
  local slotGroup = ''
  if lim.slots then
    slotGroup = groupOf(task, lim.slotsBy, params)
    local slotsKey = slots.slotPrefix .. slotGroup
    timeLeases(slots)
    if not redis.call('ZSCORE', slotsKey, id) then
      redis.call('ZREMRANGEBYSCORE', slotsKey, '-inf', string.format('%.0f', slots.now))
      local held = redis.call('ZCARD', slotsKey)
      -- tasks already waiting go first
      if held < lim.slots and redis.call('EXISTS', slots.waitPrefix .. slotGroup) == 1 then
        held = held + admitWaiting(slotGroup, lim.slots - held, slots)
      end
      if held >= lim.slots then
        local reply = holdBack(record, id)
        redis.call('HSET', record, 'state', 'queued', 'waiting', slotGroup)
        redis.call('ZADD', slots.waitPrefix .. slotGroup, arrival(id), key)
        admitWaiting(slotGroup, 0, slots)
        return false, reply
      end
    end
    redis.call('ZADD', slotsKey, string.format('%.0f', slots.deadline), id)
    redis.call('PEXPIRE', slotsKey, ARGV[9])
  end
  if rateMember then
    rateTake(rateKey, rateMember, rateNow(), lim.per)
  end
  if reserved then
    redis.call('HDEL', record, 'rated')
  end
  return true, slotGroup
end

-- key is the stored key, or '' in modes ids and reclaimed, whose replies leave it out (the caller
-- sent it); the event names it all the same, cut from the record's key
local function start(record, id, key, gen, reclaimed)
  if reclaimed then
    -- a message taken over, or read again after a reconnection, is this worker's to start only
    -- while it still holds it: another worker may have claimed it since (or finished it)
    local entry = redis.call('XPENDING', stream, group, id, id, 1)
    if not entry[1] or entry[1][2] ~= worker then
      return 'skip' .. SEP .. id
    end
    -- its idle time starts again: until this worker renews its claim, no other takes it over (its
    -- idle time may be past the redelivery timeout already, e.g. after Redis was down a while)
    redis.call('XCLAIM', stream, group, worker, 0, id, 'JUSTID')
  end
  -- what every start needs; the fields few records have are read when they matter (each field
  -- asked for costs, present or not)
  local f = redis.call('HMGET', record, 'gen', 'state', 'task', 'params', 'when', 'attempt', 'deliveries', 'sid', 'deferrals', 'trace')
  local state = f[2]
  -- only the record's current message may start it: an older copy (same generation, e.g. a
  -- deferral written twice by a resent call) is stale
  local current = (gen == '' or f[1] == gen) and f[8] == id
  -- running on this very worker: this call is a resend (the connection dropped before the reply
  -- of the first one arrived), so the worker never started it: start it now
  local resent = current and state == 'running' and redis.call('HGET', record, 'worker') == worker
  if current and (state == 'queued' or resent or (reclaimed and state == 'running')) then
    local stored = key ~= '' and key or string.sub(record, #prefix + 1)
    local task = f[3] or ''
    local slotGroup = ''
    local lim = limits[task]
    if lim then
      local ok, result = admit(record, id, stored, task, f[4] or '{}', lim.rate and redis.call('HGET', record, 'rated'), lim)
      if not ok then return result end
      slotGroup = result
    end
    -- formatted once: a number handed to Redis or joined into a string is formatted each time.
    -- A resent call is the same delivery: the worker never got the first reply, so the task never
    -- ran; counting it again would fail as poison a task that only met Redis restarts.
    local deliveries = resent and (f[7] or '1') or (f[7] and tostring((tonumber(f[7]) or 0) + 1) or '1')
    -- a rate-limited start is recorded at the time its window counts it
    local started = (lim and lim.rate) and string.format('%.0f', rateNow()) or now
    redis.call('HSET', record, 'state', 'running', 'worker', worker, 'started', started, 'deliveries', deliveries)
    if f[9] then
      -- a worker that knows the task met it at last: its time as an unknown task is over
      redis.call('HDEL', record, 'deferrals', 'unknownSince')
    end
    appendEvent(log, eventsLimit, 'started', stored, task, f[6] or '1', '', '')
    local trace = f[10] or ''
    if trace ~= '' and redis.call('HEXISTS', record, 'finished') == 1 then
      trace = '~' .. trace
    end
    -- a first attempt stores no attempt field
    return table.concat({ 'run', id, key, f[1], task, f[5] or '', f[6] or '1', deliveries, slotGroup, trace, f[4] or '{}' }, SEP)
  end
  return drop(id)
end

-- Starts the message `id` just read (its `run` field as queueMessage in shared.lua wrote it) of a
-- task without limits: the message carries what the run needs, so the record is only asked
-- whether the message is still its current one. (A message read for the first time is never
-- running already: a resent call reads new messages, and the ones the first call read wait in
-- this worker's pending entries.)
local function startRun(record, id, key, task, attempt, run)
  local f = redis.call('HMGET', record, 'sid', 'state', 'deliveries', 'deferrals', 'gen', 'when')
  -- the stream id is the record's own message (a replaced, cancelled or expired task's is not)
  if f[1] ~= id or f[2] ~= 'queued' then
    return drop(id)
  end
  local deliveries = f[3] and tostring((tonumber(f[3]) or 0) + 1) or '1'
  redis.call('HSET', record, 'state', 'running', 'worker', worker, 'started', now, 'deliveries', deliveries)
  if f[4] then
    redis.call('HDEL', record, 'deferrals', 'unknownSince')
  end
  appendEvent(log, eventsLimit, 'started', key, task, attempt ~= '' and attempt or '1', '', '')
  return 'go' .. SEP .. id .. SEP .. deliveries .. SEP .. (f[5] or '') .. SEP .. (f[6] or '') .. SEP .. run
end

local out = {}
if mode == 'read' then
  local count = ARGV[FIRST]
  local known = {}
  for i = FIRST + 1, #ARGV do
    known[ARGV[i]] = true
  end
  local reply = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', count, 'STREAMS', stream, '>')
  if reply then
    for _, entry in ipairs(reply[1][2]) do
      local id = entry[1]
      -- a message of the earlier layout (no run field) is started from its record
      local key, gen, task, attempt, run = messageHead(entry[2])
      if not key then
        out[#out + 1] = drop(id)
      elseif not known[task or ''] then
        -- the worker decides whether to put it back or fail it from how long it waited so far
        local d = redis.call('HMGET', prefix .. key, 'deferrals', 'unknownSince')
        out[#out + 1] = table.concat({ 'unknown', id, key, gen, d[1] or '0', d[2] or '', task or '' }, SEP)
      elseif run and not limits[task] then
        out[#out + 1] = startRun(prefix .. key, id, key, task, attempt, run)
      else
        out[#out + 1] = start(prefix .. key, id, key, gen, false)
      end
    end
  end
else
  local reclaimed = mode == 'reclaimed'
  for i = 6, #KEYS do
    local n = (i - 6) * 2 + FIRST
    out[#out + 1] = start(KEYS[i], ARGV[n], '', ARGV[n + 1], reclaimed)
  end
end
return out
