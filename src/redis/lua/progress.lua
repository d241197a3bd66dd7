--[[
  Stores the progress of a running attempt, unless the task moved on (replaced, cancelled, expired),
  and appends a "progress" event to the events log.

  KEYS[1]  task record hash          {name}:task:{key}
  KEYS[2]  events log stream         {name}:events:log

  ARGV[1]  generation
  ARGV[2]  worker name
  ARGV[3]  progress (JSON)
  ARGV[4]  task key (stored form), for the event
  ARGV[5]  most events the events log keeps (0: write no events)

  Returns 1 when stored, 0 otherwise.
]]
local f = redis.call('HMGET', KEYS[1], 'gen', 'state', 'worker', 'task', 'attempt')
if f[1] == ARGV[1] and f[2] == 'running' and f[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[3])
  appendEvent(KEYS[2], ARGV[5], 'progress', ARGV[4], f[4] or '', f[5] or '1', '', ARGV[3])
  return 1
end
return 0
