--[[
  Stores a strike rule unless the same rule exists, and tells every process the rules changed:
  the change (previous version, new version, the rule) is kept as the last change and pushed, so
  that a process holding the previous version applies it without reading the other rules.

  KEYS[1]  strikes hash              {name}:strikes
  KEYS[2]  strikes version string    {name}:strikes:version
  KEYS[3]  last change string        {name}:strikes:change
  KEYS[4]  events log stream         {name}:events:log

  ARGV[1]  strike id (derived from the rule, so equal rules share it)
  ARGV[2]  the strike (JSON)
  ARGV[3]  a new, unique version token
  ARGV[4]  most strikes a shadow may hold
  ARGV[5]  events channel
  ARGV[6]  the change without its versions, as src/redis/strike-changes.ts writes it; the versions
           go in front, each followed by a space
  ARGV[7]  most events the events log keeps (0: write no events)

  A rule stored appends a "strike" event, the rule as its data, to the events log.

  Returns { "exists", strike JSON } | { "full" } | { "created", strike JSON, change }
]]
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  return { 'exists', existing }
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return { 'full' }
end
local change = (redis.call('GET', KEYS[2]) or '') .. ' ' .. ARGV[3] .. ' ' .. ARGV[6]
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], change)
redis.call('PUBLISH', ARGV[5], 'strikes ' .. change)
appendEvent(KEYS[4], ARGV[7], 'strike', '', '', '', '', ARGV[2])
return { 'created', ARGV[2], change }
