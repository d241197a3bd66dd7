--[[
  Removes a strike rule and tells every process the rules changed, as strike does: the change is
  kept as the last change and pushed. With no rule left the version, hash and last change go, and
  the version reads as "" again (which always means: no rules).

  KEYS[1]  strikes hash              {name}:strikes
  KEYS[2]  strikes version string    {name}:strikes:version
  KEYS[3]  last change string        {name}:strikes:change
  KEYS[4]  events log stream         {name}:events:log

  ARGV[1]  strike id
  ARGV[2]  a new, unique version token
  ARGV[3]  events channel
  ARGV[4]  the change without its versions, as src/redis/strike-changes.ts writes it; the versions
           go in front, each followed by a space
  ARGV[5]  most events the events log keeps (0: write no events)

  A rule removed appends a "restore" event, the rule as its data, to the events log.

  Returns { removed strike JSON, change }, or false when there was no such strike.
]]
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then
  return false
end
local previous = redis.call('GET', KEYS[2]) or ''
redis.call('HDEL', KEYS[1], ARGV[1])
local version = ARGV[2]
if redis.call('HLEN', KEYS[1]) == 0 then
  version = ''
end
local change = previous .. ' ' .. version .. ' ' .. ARGV[4]
if version == '' then
  redis.call('DEL', KEYS[2], KEYS[3])
else
  redis.call('SET', KEYS[2], version)
  redis.call('SET', KEYS[3], change)
end
redis.call('PUBLISH', ARGV[3], 'strikes ' .. change)
appendEvent(KEYS[4], ARGV[5], 'restore', '', '', '', '', existing)
return { existing, change }
