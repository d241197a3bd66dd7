--[[
  Cancels one task. Scheduled and queued tasks are removed before they run; a running task is
  marked cancelled and its worker is told through the events channel to abort it. The task enters
  the history of cancelled tasks (as finish.lua writes it), a "cancelled" event is appended to the
  events log, and its key goes out on the finished channel for whoever waits on it.

  KEYS[1]  task record hash          {name}:task:{key}
  KEYS[2]  schedule sorted set       {name}:schedule
  KEYS[3]  stream                    {name}:stream
  KEYS[4]  events log stream         {name}:events:log

  ARGV[1]  task key (stored form)
  ARGV[2]  now, epoch ms
  ARGV[3]  execution TTL in ms (0: delete the record)
  ARGV[4]  events channel
  ARGV[5]  history index prefix      {name}:ended:
  ARGV[6]  most tasks each history index keeps (0: keep no history)
  ARGV[7]  most events the events log keeps (0: write no events)
  ARGV[8]  finished channel          {name}:finished

  The two history indexes (cancelled, and cancelled of the task's name) are built here from their
  prefix, as finish.lua does; they share the shadow's hash tag.

  Returns { "missing" } | { "cancelled", previous state, task } | { "finished", state, task }
]]
local record, schedule, stream, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key, now, ttl, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local historyPrefix, historyLimit, eventsLimit, finishedChannel = ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]

local f = redis.call('HMGET', record, 'state', 'sid', 'gen', 'task', 'attempt')
local state = f[1]
if not state then
  return { 'missing' }
end
if state == 'cancelled' then
  return { 'cancelled', state, f[4] }
end
if state ~= 'scheduled' and state ~= 'queued' and state ~= 'running' then
  return { 'finished', state, f[4] }
end
local task = f[4] or ''

if state == 'scheduled' then
  -- a scheduled record keeps its due time in the schedule only (see add.lua): keep it in the record
  local when = redis.call('ZSCORE', schedule, key)
  redis.call('ZREM', schedule, key)
  if when then
    redis.call('HSET', record, 'when', when)
  end
elseif state == 'queued' then
  if f[2] then
    redis.call('XDEL', stream, f[2])
  end
else
  redis.call('PUBLISH', channel, 'cancel ' .. f[3] .. ' ' .. key)
end
redis.call('HSET', record, 'state', 'cancelled', 'finished', now)
if tonumber(ttl) > 0 then
  redis.call('PEXPIRE', record, ttl)
  if historyLimit > 0 then
    writeHistory(historyPrefix, 'cancelled', { key }, now, ttl, historyLimit)
    writeHistory(historyPrefix, 'cancelled:' .. task, { key }, now, ttl, historyLimit)
  end
else
  redis.call('DEL', record)
end
appendEvent(log, eventsLimit, 'cancelled', key, task, f[5] or '1', '', '')
redis.call('PUBLISH', finishedChannel, key)
return { 'cancelled', state, task }
