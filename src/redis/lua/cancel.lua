--[[
  Cancels one task. Scheduled and queued tasks are removed before they run; a running task is
  marked cancelled and its worker is told through the events channel to abort it.

  KEYS[1]  task record hash          {name}:task:{key}
  KEYS[2]  schedule sorted set       {name}:schedule
  KEYS[3]  stream                    {name}:stream

  ARGV[1]  task key
  ARGV[2]  now, epoch ms
  ARGV[3]  execution TTL in ms (0: delete the record)
  ARGV[4]  events channel

  Returns { "missing" } | { "cancelled", previous state, task } | { "finished", state, task }
]]
local record, schedule, stream = KEYS[1], KEYS[2], KEYS[3]
local key, now, ttl, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]

local f = redis.call('HMGET', record, 'state', 'sid', 'gen', 'task')
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
if ttl > 0 then
  redis.call('PEXPIRE', record, ttl)
else
  redis.call('DEL', record)
end
return { 'cancelled', state, f[4] }
