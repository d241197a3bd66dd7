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

