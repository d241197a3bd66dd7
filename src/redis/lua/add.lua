--[[
  Adds or replaces tasks, atomically: one task, or a batch in one call (each judged alone).

  KEYS[1]    schedule sorted set       {name}:schedule
  KEYS[2]    stream                    {name}:stream
  KEYS[3]    strikes version string    {name}:strikes:version
  KEYS[4..]  the task record hash of each task, in order: {name}:task:{key}

  ARGV[1]  now, epoch ms
  ARGV[2]  mode: "add" (idempotent) or "replace"
  ARGV[3]  strikes version the caller checked the tasks against
  ARGV[4]  events channel
  ARGV[5..] per task, five slots:
           task key, task name, params (JSON), due time (epoch ms),
           a random generation to start from when the key has no record (so that a late message
           of an earlier, deleted incarnation of the key never matches the new one)

  A record stores no params when they are {} (the readers default them), and a scheduled record no
  due time: its score in the schedule is the one truth; move-due writes it into the record.

  Returns
    { "stale" }   the caller's strikes are out of date; nothing written
    otherwise one reply per task:
    { "duplicate", state, when, task, params }   mode add and the key is scheduled, queued or running
    { "added", state, when, replaced }           stored; state is "queued" or "scheduled"
]]
local schedule, stream = KEYS[1], KEYS[2]
local now, mode, channel = tonumber(ARGV[1]), ARGV[2], ARGV[4]

if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then
  return { 'stale' }
end

local replies = {}
local earliest = nil
for i = 4, #KEYS do
  local record = KEYS[i]
  local n = (i - 4) * 5 + 5
  local key, task, params, due, seed = ARGV[n], ARGV[n + 1], ARGV[n + 2], tonumber(ARGV[n + 3]), ARGV[n + 4]

  local old = redis.call('HMGET', record, 'state', 'when', 'task', 'params', 'gen', 'sid')
  local oldState = old[1]
  local live = oldState == 'scheduled' or oldState == 'queued' or oldState == 'running'

  if live and mode == 'add' then
    local when = old[2] or redis.call('ZSCORE', schedule, key)
    replies[#replies + 1] = { 'duplicate', oldState, when, old[3], old[4] or '{}' }
  else
    local gen = old[5] and (tonumber(old[5]) + 1) or tonumber(seed)
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
    if params ~= '{}' then
      redis.call('HSET', record, 'params', params)
    end
    if due <= now then
      local id = redis.call('XADD', stream, '*', 'key', key, 'gen', gen, 'task', task)
      redis.call('HSET', record, 'task', task, 'when', ARGV[n + 3], 'state', 'queued', 'gen', gen, 'sid', id)
      replies[#replies + 1] = { 'added', 'queued', due, replaced }
    else
      redis.call('HSET', record, 'task', task, 'state', 'scheduled', 'gen', gen)
      redis.call('ZADD', schedule, ARGV[n + 3], key)
      if earliest == nil or due < earliest then
        earliest = due
      end
      replies[#replies + 1] = { 'added', 'scheduled', due, replaced }
    end
  end
end

-- wake sleeping schedulers only when a task added here became the next one due
if earliest then
  local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  if tonumber(head[2]) == earliest then
    redis.call('PUBLISH', channel, 'due ' .. earliest)
  end
end
return replies
