--[[
  Starts tasks for one worker: each message whose record still matches it (same generation, not
  cancelled) becomes running; stale messages are acknowledged and dropped. Either for messages the
  worker already read (mode "ids" or "reclaimed"), or reading new ones here first (mode "read"),
  which saves a round trip while there is work waiting.

  KEYS[1]    stream                    {name}:stream
  KEYS[2]    strikes version string    {name}:strikes:version
  KEYS[3]    events log stream         {name}:events:log
  KEYS[4..]  modes ids and reclaimed: the task record of each message, in message order

  ARGV[1]  consumer group
  ARGV[2]  worker name (consumer)
  ARGV[3]  now, epoch ms
  ARGV[4]  strikes version the worker holds
  ARGV[5]  mode: "ids", "reclaimed" (taken over from a dead worker: a running record is expected)
           or "read"
  ARGV[6]  most entries the events log keeps (0: write no events)
  ARGV[7]  task record key prefix    {name}:task:
  ARGV[8..] modes ids and reclaimed: per message, stream id and generation
           mode read: most messages to read, then the names of the tasks this worker runs (a
           message naming another task is not started)

  Each task started appends a "started" event to the events log (see src/redis/event-log.ts).

  In mode read the record keys are built here from the prefix, as they are only known once the
  stream is read; they share the shadow's hash tag, so they live in the same cluster slot.

  A record already running on this worker is started again too: that happens when a call was
  resent after a dropped connection. The worker itself skips messages it is running.

  Returns { "stale" } when the worker's strikes are out of date (nothing read or changed), else one
  string per message, its fields separated by the unit separator \31 (one string instead of a nested
  array costs Redis and the client far less to encode and parse; params, JSON, comes last):
    run <id> <key> <generation> <task> <when> <attempt> <deliveries> <params>
    unknown <id> <key> <generation> <task>   mode read: a task this worker does not run
    drop <id>
    skip <id>   mode reclaimed: the message is no longer this worker's; left alone
]]
local stream, log, group, worker = KEYS[1], KEYS[3], ARGV[1], ARGV[2]
local now, mode, eventsLimit, prefix = ARGV[3], ARGV[5], ARGV[6], ARGV[7]
local SEP = '\31'

if (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return { 'stale' }
end

local function drop(id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  return 'drop' .. SEP .. id
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
  end
  local f = redis.call('HMGET', record, 'gen', 'state', 'task', 'params', 'when', 'attempt', 'deliveries', 'worker', 'sid')
  local state = f[2]
  -- only the record's current message may start it: an older copy (same generation, e.g. a
  -- deferral written twice by a resent call) is stale
  local current = f[1] == gen and f[9] == id
  -- running on this very worker: this call is a resend (the connection dropped before the reply
  -- of the first one arrived), so the worker never started it: start it now
  local resent = state == 'running' and f[8] == worker
  if current and (state == 'queued' or resent or (reclaimed and state == 'running')) then
    -- formatted once: a number handed to Redis or joined into a string is formatted each time
    local deliveries = tostring((tonumber(f[7]) or 0) + 1)
    redis.call('HSET', record, 'state', 'running', 'worker', worker, 'started', now, 'deliveries', deliveries)
    local stored = key ~= '' and key or string.sub(record, #prefix + 1)
    appendEvent(log, eventsLimit, 'started', stored, f[3] or '', f[6] or '1', '', '')
    -- a first attempt stores no attempt field
    return table.concat({ 'run', id, key, gen, f[3] or '', f[5] or '', f[6] or '1', deliveries, f[4] or '{}' }, SEP)
  end
  return drop(id)
end

local out = {}
if mode == 'read' then
  local count = ARGV[8]
  local known = {}
  for i = 9, #ARGV do
    known[ARGV[i]] = true
  end
  local reply = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', count, 'STREAMS', stream, '>')
  if reply then
    for _, entry in ipairs(reply[1][2]) do
      local id, fields = entry[1], entry[2]
      local key, gen, task
      for j = 1, #fields, 2 do
        local name = fields[j]
        if name == 'key' then key = fields[j + 1] elseif name == 'gen' then gen = fields[j + 1] elseif name == 'task' then task = fields[j + 1] end
      end
      if not key or not gen then
        out[#out + 1] = drop(id)
      elseif not known[task or ''] then
        out[#out + 1] = table.concat({ 'unknown', id, key, gen, task or '' }, SEP)
      else
        out[#out + 1] = start(prefix .. key, id, key, gen, false)
      end
    end
  end
else
  local reclaimed = mode == 'reclaimed'
  for i = 4, #KEYS do
    local n = (i - 4) * 2 + 8
    out[#out + 1] = start(KEYS[i], ARGV[n], '', ARGV[n + 1], reclaimed)
  end
end
return out
