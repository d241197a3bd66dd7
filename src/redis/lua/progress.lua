--[[
  Stores the progress of a running attempt, unless the task moved on (replaced, cancelled, expired),
  and appends a "progress" event to the events log.

  KEYS[1]  task record hash          {name}:task:{key}
  KEYS[2]  events log stream         {name}:events:log

  ARGV[1]  generation
  ARGV[2]  worker name
  ARGV[3]  progress (JSON)
  ARGV[4]  task key (stored form), for the event
  ARGV[5]  most entries the events log keeps (0: write no events)

  Returns 1 when stored, 0 otherwise.
]]
local f = redis.call('HMGET', KEYS[1], 'gen', 'state', 'worker', 'task', 'attempt')
if f[1] == ARGV[1] and f[2] == 'running' and f[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[3])
  if tonumber(ARGV[5]) > 0 then
    -- the same six fields as every entry of the log (see finish.lua)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'progress', 'key', ARGV[4], 'task', f[4] or '', 'attempt', f[5] or '1', 'state', '', 'data', ARGV[3])
  end
  return 1
end
return 0
