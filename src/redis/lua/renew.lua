--[[
  Renews a live worker's claim on the messages it is running, so that they are not redelivered
  while it still works on them. A message another worker reclaimed meanwhile is left alone.

  KEYS[1]  stream                    {name}:stream

  ARGV[1]  consumer group
  ARGV[2]  worker name (consumer)
  ARGV[3..] stream ids

  Returns the ids this worker no longer holds.
]]
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local pending = redis.call('XPENDING', stream, group, id, id, 1, consumer)
  if #pending > 0 then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
  else
    lost[#lost + 1] = id
  end
end
return lost
