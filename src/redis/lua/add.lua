--[[
  Adds or replaces one task, atomically.

  KEYS[1]  task record hash          {name}:task:{key}
  KEYS[2]  schedule sorted set       {name}:schedule
  KEYS[3]  stream                    {name}:stream
  KEYS[4]  strikes version string    {name}:strikes:version

  ARGV[1]  task key
  ARGV[2]  task name
  ARGV[3]  params (JSON)
  ARGV[4]  due time, epoch ms
  ARGV[5]  now, epoch ms
  ARGV[6]  mode: "add" (idempotent) or "replace"
  ARGV[7]  strikes version the caller checked the task against
  ARGV[8]  events channel
  ARGV[9]  a random generation to start from when the key has no record (so that a late message
           of an earlier, deleted incarnation of the key never matches the new one)

  Returns
    { "stale" }                                  the caller's strikes are out of date; nothing written
    { "duplicate", state, when, task, params }   mode add and the key is scheduled, queued or running
    { "added", state, when, replaced }           stored; state is "queued" or "scheduled"
]]
local record, schedule, stream = KEYS[1], KEYS[2], KEYS[3]
local key, task, params = ARGV[1], ARGV[2], ARGV[3]
local due, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local mode, channel = ARGV[6], ARGV[8]

if (redis.call('GET', KEYS[4]) or '') ~= ARGV[7] then
  return { 'stale' }
end

local old = redis.call('HMGET', record, 'state', 'when', 'task', 'params', 'gen', 'sid')
local oldState = old[1]
local live = oldState == 'scheduled' or oldState == 'queued' or oldState == 'running'

if live and mode == 'add' then
  return { 'duplicate', oldState, old[2], old[3], old[4] }
end

local gen = old[5] and (tonumber(old[5]) + 1) or tonumber(ARGV[9])
local replaced = 0
if live then
  replaced = 1
  if oldState == 'scheduled' then
    redis.call('ZREM', schedule, key)
  elseif oldState == 'queued' and old[6] then
    redis.call('XDEL', stream, old[6])
  elseif oldState == 'running' then
    -- the running attempt is aborted; its outcome is ignored because the generation moved on
    redis.call('PUBLISH', channel, 'cancel ' .. old[5] .. ' ' .. key)
  end
end
if oldState then
  redis.call('DEL', record)
end

if due <= now then
  local id = redis.call('XADD', stream, '*', 'key', key, 'gen', gen, 'task', task)
  redis.call('HSET', record, 'task', task, 'params', params, 'when', due, 'state', 'queued',
    'attempt', 1, 'gen', gen, 'sid', id)
  return { 'added', 'queued', due, replaced }
end

redis.call('HSET', record, 'task', task, 'params', params, 'when', due, 'state', 'scheduled',
  'attempt', 1, 'gen', gen)
redis.call('ZADD', schedule, due, key)
-- wake sleeping schedulers only when this task became the next one due
local head = redis.call('ZRANGE', schedule, 0, 0)
if head[1] == key then
  redis.call('PUBLISH', channel, 'due ' .. due)
end
return { 'added', 'scheduled', due, replaced }
