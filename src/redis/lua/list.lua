--[[
  Reads one page of the tasks in one state, with their records: the tasks that finished in that
  state newest first, scheduled tasks by due time, queued and running tasks oldest first. Reads
  only; the records are read here, so a page costs one call however many tasks it holds.

  KEYS[1]  what lists the state:
           completed, failed, cancelled, struck: the history index of the state, or of the state
             and one task name     {name}:history:{state}[:{task}]
           scheduled: the schedule sorted set         {name}:schedule
           queued, running: the stream                {name}:stream

  ARGV[1]  state
  ARGV[2]  most tasks to answer
  ARGV[3]  most entries to look at: an entry whose record expired, moved on to another state or
           names another task is passed over, and a page that looked at this many ends there,
           with fewer tasks than asked and a next position
  ARGV[4]  task name to keep, or "" for every task
  ARGV[5]  task record key prefix    {name}:task:
  ARGV[6]  consumer group (running: only messages it delivered can be running)
  ARGV[7]  where the previous page ended, or "" for the first page: "<score> <member>" in a sorted
           set, a stream id in the stream
  ARGV[8]  history only: the earliest finish time to read, epoch ms, or "" for no bound

  Record keys are built here from the prefix, as they are only known once the index is read; they
  share the shadow's hash tag.

  A sorted-set position is found again by the rank of its member; should that member have left the
  index meanwhile (retried, trimmed), by counting what sorts before it: the entries of an earlier
  score, and those of the same score whose member sorts before it (a sorted set orders equal
  scores by their bytes).

  Returns { next, key, score, fields, key, score, fields, ... }: next is where this page ended, or
  "" when nothing is left; per task its stored key, its score ("" in the stream) and its record as
  HGETALL gives it.
]]
local index = KEYS[1]
local state, limit, budget, only, prefix, group, position, earliest =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])

local out = { '' }
local found, examined = 0, 0

-- the value of one field in a record as HGETALL gives it
local function field(record, name)
  for i = 1, #record, 2 do
    if record[i] == name then
      return record[i + 1]
    end
  end
  return nil
end

-- whether a (byte-ordered, as a sorted set orders) comes after b; Lua's own < follows the locale
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

-- keeps the task whose record is in the state listed (and of the task name asked for)
local function keep(key, score, record, id)
  if #record == 0 or field(record, 'state') ~= state then
    return
  end
  if only ~= '' and field(record, 'task') ~= only then
    return
  end
  -- a queued or running task is listed by the record's current message only
  if id and field(record, 'sid') ~= id then
    return
  end
  out[#out + 1] = key
  out[#out + 1] = score
  out[#out + 1] = record
  found = found + 1
end

-- Looks at the index's entries a batch at a time, from where the last page ended, until the page
-- is full or the budget spent. fetch(want) reads the next batch of up to `want` entries and answers
-- it with its number of entries; visit(batch, i) looks at its i-th, answering false for one past
-- the end of what is read. Answers whether the index ran out; if not, the caller asks whether
-- anything is left.
local function walk(fetch, visit)
  while found < limit and examined < budget do
    local want = math.min(budget - examined, math.max(limit - found, 50))
    local batch, count = fetch(want)
    for i = 1, count do
      if not visit(batch, i) then
        return true
      end
      examined = examined + 1
      if found == limit or examined == budget then
        return false
      end
    end
    if count < want then
      return true
    end
  end
  return false
end

if state == 'queued' or state == 'running' then
  if redis.call('EXISTS', index) == 0 then
    return out
  end
  local last = '+'
  if state == 'running' then
    -- a running task's message was delivered: none past the group's last delivered one
    last = lastDelivered(index, group)
    if not last then
      return out
    end
  end
  local from = position == '' and '-' or '(' .. position
  local ended = walk(function(want)
    local entries = redis.call('XRANGE', index, from, last, 'COUNT', want)
    return entries, #entries
  end, function(entries, i)
    local id, fields = entries[i][1], entries[i][2]
    position = id
    from = '(' .. id
    local key, task
    for j = 1, #fields, 2 do
      if fields[j] == 'key' then key = fields[j + 1] elseif fields[j] == 'task' then task = fields[j + 1] end
    end
    -- the message names its task: another task's is passed over without reading its record
    if key and (only == '' or task == only) then
      keep(key, '', redis.call('HGETALL', prefix .. key), id)
    end
    return true
  end)
  if not ended and #redis.call('XRANGE', index, from, last, 'COUNT', 1) > 0 then
    out[1] = position
  end
  return out
end

-- a sorted set: newest first in a history index, earliest first in the schedule
local newestFirst = state ~= 'scheduled'
local rank = 0
if position ~= '' then
  local space = string.find(position, ' ', 1, true)
  local score, member = string.sub(position, 1, space - 1), string.sub(position, space + 1)
  local stored = redis.call('ZSCORE', index, member)
  if stored and tonumber(stored) == tonumber(score) then
    rank = redis.call(newestFirst and 'ZREVRANK' or 'ZRANK', index, member) + 1
  else
    -- the member left: count what sorts before its place
    if newestFirst then
      rank = redis.call('ZCOUNT', index, '(' .. score, '+inf')
    else
      rank = redis.call('ZCOUNT', index, '-inf', '(' .. score)
    end
    for _, tied in ipairs(redis.call('ZRANGEBYSCORE', index, score, score)) do
      if (newestFirst and after(tied, member)) or (not newestFirst and after(member, tied)) then
        rank = rank + 1
      end
    end
  end
end

local range = newestFirst and 'ZREVRANGE' or 'ZRANGE'
-- whether the entry at this rank is one to read (a history page stops at the earliest finish time)
local function readable(score)
  return not earliest or tonumber(score) >= earliest
end
local ended = walk(function(want)
  local entries = redis.call(range, index, rank, rank + want - 1, 'WITHSCORES')
  return entries, #entries / 2
end, function(entries, i)
  local key, score = entries[2 * i - 1], entries[2 * i]
  if not readable(score) then
    return false
  end
  rank = rank + 1
  position = score .. ' ' .. key
  keep(key, score, redis.call('HGETALL', prefix .. key))
  return true
end)
if not ended then
  local next = redis.call(range, index, rank, rank, 'WITHSCORES')
  if next[2] and readable(next[2]) then
    out[1] = position
  end
end
return out
