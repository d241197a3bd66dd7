--[[
  Reads what a process needs to bring its copy of the strike rules up to date, atomically: nothing
  when the copy is current, the last change when the copy is exactly one change behind, and every
  rule otherwise (a copy never read, or one that missed more than the last change).

  KEYS[1]  strikes hash              {name}:strikes
  KEYS[2]  strikes version string    {name}:strikes:version
  KEYS[3]  last change string        {name}:strikes:change

  ARGV[1]  the version the caller's copy is at ("" = no rules)

  Returns { "current" } | { "change", change } | { "all", version, strike JSON... }
]]
local version = redis.call('GET', KEYS[2]) or ''
if version == ARGV[1] then
  return { 'current' }
end
-- a change's text starts with its previous and new versions, each followed by a space
local change = redis.call('GET', KEYS[3])
local from = ARGV[1] .. ' ' .. version .. ' '
if change and string.sub(change, 1, #from) == from then
  return { 'change', change }
end
local reply = { 'all', version }
for _, rule in ipairs(redis.call('HVALS', KEYS[1])) do
  reply[#reply + 1] = rule
end
return reply
