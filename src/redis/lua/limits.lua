--[[
  Sweeps the concurrency groups that have tasks waiting: the slots whose lease lapsed (their worker
  died, or lost Redis for longer than its redelivery timeout) are freed, and the oldest waiting
  tasks take whatever room the limit leaves. Finishing attempts hand their slots on at once
  (finish.lua); this only catches the slots nobody gave back.

  KEYS[1]  limit groups waiting      {name}:limits
  KEYS[2]  stream                    {name}:stream

  ARGV[1]  now, epoch ms (leases are judged on this or Redis's clock, whichever is later)
  ARGV[2]  lease of a concurrency slot, ms
  ARGV[3]  task record key prefix    {name}:task:
  ARGV[4]  slot prefix               {name}:slots:
  ARGV[5]  waiting prefix            {name}:waiting:
  ARGV[6..] per task of this worker with a concurrency limit: its name, then its limit

  Groups of tasks this worker does not know are left to a worker that does (looked at again a lease
  later). Slot and waiting keys are built here from their prefixes; they share the shadow's hash tag.

  Returns the number of tasks admitted.
]]
local index = KEYS[1]
local lease = tonumber(ARGV[2])
local c = {
  stream = KEYS[2], prefix = ARGV[3], slotPrefix = ARGV[4], waitPrefix = ARGV[5], limitsIndex = index,
  now = tonumber(ARGV[1]), lease = lease,
}
-- leases are judged on the clock they are handed out on: the caller's, or Redis's when that is
-- later (see timeLeases in shared.lua)
timeLeases(c)
local now = c.now
local nowText = string.format('%.0f', now)
local limits = {}
for i = 6, #ARGV, 2 do
  limits[ARGV[i]] = tonumber(ARGV[i + 1])
end

local admitted = 0
for _, group in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', nowText, 'LIMIT', 0, 100)) do
  local limit = limits[string.match(group, '^[^|]+')]
  if limit then
    local slotsKey = c.slotPrefix .. group
    redis.call('ZREMRANGEBYSCORE', slotsKey, '-inf', nowText)
    admitted = admitted + admitWaiting(group, math.max(limit - redis.call('ZCARD', slotsKey), 0), c)
  else
    redis.call('ZADD', index, string.format('%.0f', now + lease), group)
  end
end
return admitted
