--[[
  Stores the progress of a running attempt, unless the task moved on (replaced, cancelled, expired).

  KEYS[1]  task record hash          {name}:task:{key}

  ARGV[1]  generation
  ARGV[2]  worker name
  ARGV[3]  progress (JSON)

  Returns 1 when stored, 0 otherwise.
]]
local f = redis.call('HMGET', KEYS[1], 'gen', 'state', 'worker')
if f[1] == ARGV[1] and f[2] == 'running' and f[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[3])
  return 1
end
return 0
