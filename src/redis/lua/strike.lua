--[[
  Stores a strike rule unless the same rule exists, and tells every process the rules changed.

  KEYS[1]  strikes hash              {name}:strikes
  KEYS[2]  strikes version string    {name}:strikes:version

  ARGV[1]  strike id (derived from the rule, so equal rules share it)
  ARGV[2]  the strike (JSON)
  ARGV[3]  a new, unique version token
  ARGV[4]  most strikes a shadow may hold
  ARGV[5]  events channel

  Returns { "exists", strike JSON } | { "full" } | { "created", strike JSON }
]]
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  return { 'exists', existing }
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return { 'full' }
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[5], 'strikes ' .. ARGV[3])
return { 'created', ARGV[2] }
