--[[
  Renews a live worker's claim on the messages it is running, so that they are not redelivered
  while it still works on them, and the lease of the concurrency slot each holds (see shared.lua).
  A message another worker reclaimed meanwhile is left alone.

  KEYS[1]  stream                    {name}:stream

  ARGV[1]  consumer group
  ARGV[2]  worker name (consumer)
  ARGV[3]  now, epoch ms
  ARGV[4]  lease of a concurrency slot, ms
  ARGV[5]  slot prefix               {name}:slots:
  ARGV[6..] per message, its stream id, then \31 and the group of its slot when it holds one

  Slot keys are built here from their prefix; they share the shadow's hash tag.

  Returns the ids this worker no longer holds.
]]
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
-- counted from Redis's clock when the caller's is earlier: a renewal that waited (Redis was away)
-- must not write a lease that lapsed already (see timeLeases in shared.lua)
local deadline = string.format('%.0f', laterClock(tonumber(ARGV[3])) + tonumber(ARGV[4]))
local slotPrefix = ARGV[5]
local lost = {}
for i = 6, #ARGV do
  local id, slot = string.match(ARGV[i], '^([^\31]+)\31?(.*)$')
  local pending = redis.call('XPENDING', stream, group, id, id, 1, consumer)
  if #pending > 0 then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
    if slot ~= '' then
      local slotsKey = slotPrefix .. slot
      redis.call('ZADD', slotsKey, 'XX', deadline, id)
      redis.call('PEXPIRE', slotsKey, ARGV[4])
    end
  else
    lost[#lost + 1] = id
  end
end
return lost
