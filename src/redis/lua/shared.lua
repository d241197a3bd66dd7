--[[
  Helpers that more than one script needs. Redis runs each script alone, so src/redis/scripts.ts
  loads every script with this file's text ahead of its own; it only defines local functions.
]]

-- Appends one entry to the events log (see src/redis/event-log.ts), capped at about `limit`
-- entries; nothing when `limit` is 0. Always the same six fields in the same order, so that the
-- stream stores their names once per node rather than once per entry.
local function appendEvent(log, limit, type, key, task, attempt, state, data)
  if tonumber(limit) > 0 then
    redis.call('XADD', log, 'MAXLEN', '~', limit, '*', 'type', type, 'key', key, 'task', task, 'attempt', attempt, 'state', state, 'data', data)
  end
end

-- Adds `entries` ({ score, member, score, member, ... }) to a history index, then trims it of the
-- entries older than the execution TTL `ttl` (their records expired) and of the oldest past the
-- `limit` it keeps; the index expires an execution TTL after its last write.
local function writeHistory(index, entries, now, ttl, limit)
  redis.call('ZADD', index, unpack(entries))
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. string.format('%.0f', tonumber(now) - tonumber(ttl)))
  redis.call('ZREMRANGEBYRANK', index, 0, -limit - 1)
  redis.call('PEXPIRE', index, ttl)
end

-- The id of the last message the consumer group `group` of `stream` delivered, or nil when there
-- is no such group.
local function lastDelivered(stream, group)
  for _, fields in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #fields, 2 do
      if fields[i] == 'name' then name = fields[i + 1] elseif fields[i] == 'last-delivered-id' then last = fields[i + 1] end
    end
    if name == group then return last end
  end
  return nil
end


--[[
  Concurrency limits (see src/redis/limits.ts). A limit group is a task name, or a task name, "|"
  and the value of the parameter it is limited by. Per group:
    {slotPrefix}{group}   sorted set: the stream id of each attempt holding a slot -> the time its
                          lease ends (renewed with the worker's claims; a dead worker's lapses)
    {waitPrefix}{group}   sorted set: the key of each task waiting for a slot -> when it arrived;
                          its record is queued, with no message and its group in `waiting`
  and {limits} (`limitsIndex`) holds each group that has tasks waiting -> when a lease of its ends,
  for the sweep that frees lapsed slots (limits.lua).

  `c` carries what these need: stream, prefix (task records), slotPrefix, waitPrefix, limitsIndex,
  now and deadline (numbers: now and now + the lease).
]]

-- Admits up to `room` of the oldest tasks waiting for a slot of `group`: each gets a slot (held by
-- the message it is queued with again) and goes back on the stream. A waiting entry whose record
-- moved on (cancelled, replaced) is dropped. Keeps the group's place in the index. Returns how
-- many were admitted.
local function admitWaiting(group, room, c)
  local waitKey, slotsKey = c.waitPrefix .. group, c.slotPrefix .. group
  local admitted = 0
  while admitted < room do
    local head = redis.call('ZPOPMIN', waitKey)
    if not head[1] then break end
    local key = head[1]
    local record = c.prefix .. key
    local f = redis.call('HMGET', record, 'state', 'waiting', 'gen', 'task', 'sid')
    if f[1] == 'queued' and f[2] == group and not f[5] then
      local id = redis.call('XADD', c.stream, '*', 'key', key, 'gen', f[3], 'task', f[4])
      redis.call('HSET', record, 'sid', id)
      redis.call('HDEL', record, 'waiting')
      redis.call('ZADD', slotsKey, string.format('%.0f', c.deadline), id)
      admitted = admitted + 1
    end
  end
  if admitted > 0 then
    redis.call('PEXPIRE', slotsKey, string.format('%.0f', c.deadline - c.now))
  end
  if redis.call('EXISTS', waitKey) == 0 then
    redis.call('ZREM', c.limitsIndex, group)
  else
    -- the sweep looks again when the first lease may lapse (at once when no slot is held)
    local first = redis.call('ZRANGE', slotsKey, 0, 0, 'WITHSCORES')
    redis.call('ZADD', c.limitsIndex, first[2] or string.format('%.0f', c.now), group)
  end
  return admitted
end

-- The attempt of message `id` gives back its slot of `group`; the oldest waiting task takes it.
local function releaseSlot(group, id, c)
  if redis.call('ZREM', c.slotPrefix .. group, id) == 1 then
    admitWaiting(group, 1, c)
  end
end
