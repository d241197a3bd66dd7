--[[
  Removes a strike rule and tells every process the rules changed. With no rule left both keys
  go, and the version reads as "" again (which always means: no rules).

  KEYS[1]  strikes hash              {name}:strikes
  KEYS[2]  strikes version string    {name}:strikes:version

  ARGV[1]  strike id
  ARGV[2]  a new, unique version token
  ARGV[3]  events channel

  Returns the removed strike (JSON), or false when there was none.
]]
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then
  return false
end
redis.call('HDEL', KEYS[1], ARGV[1])
local version = ARGV[2]
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  version = ''
else
  redis.call('SET', KEYS[2], version)
end
redis.call('PUBLISH', ARGV[3], 'strikes ' .. version)
return existing
