--[[
  Moves due tasks from the schedule onto the stream. Atomic: however many schedulers race, a task
  is moved once. Task record keys are built here from ARGV[3] because they are only known once the
  schedule is read; they share the shadow's hash tag, so they live in the same cluster slot.

  KEYS[1]  schedule sorted set       {name}:schedule
  KEYS[2]  stream                    {name}:stream

  ARGV[1]  now, epoch ms
  ARGV[2]  most tasks to move in this call
  ARGV[3]  task record key prefix    {name}:task:

  Returns { moved, next due time in epoch ms or -1 when the schedule is empty }
]]
local schedule, stream = KEYS[1], KEYS[2]
local now, limit, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

local due = redis.call('ZRANGE', schedule, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
local moved = 0
for i = 1, #due, 2 do
  local key, when = due[i], due[i + 1]
  redis.call('ZREM', schedule, key)
  local record = prefix .. key
  local fields = redis.call('HMGET', record, 'state', 'task', unpack(RECORDED_RUN))
  if fields[1] == 'scheduled' then
    local id = queueRecorded(stream, key, fields[2], fields, 3)
    -- a scheduled record keeps its due time only in the schedule
    redis.call('HSET', record, 'state', 'queued', 'sid', id, 'when', when)
    moved = moved + 1
  end
end

local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
if head[2] then
  return { moved, tonumber(head[2]) }
end
return { moved, -1 }
