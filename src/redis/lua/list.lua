--[[
  Reads one page of the tasks in one state, with their records: the tasks that finished in that
  state newest first, scheduled tasks by due time, queued and running tasks oldest first. Reads
  only; the records are read here, so a page costs one call however many tasks it holds.

  KEYS[1]  what lists the state:
           completed, failed, cancelled, struck: the history index of the state, or of the state
             and one task name     {name}:ended:{state}[:{task}]  (a stream, see shared.lua)
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
  ARGV[7]  where the previous page ended, or "" for the first page: "<score> <member>" in the
           schedule, a stream id in the stream, "<entry id> <place>" in a history index (the place
           in that entry of the last key looked at, from 1)
  ARGV[8]  history only: the earliest finish time to read, epoch ms, or "" for no bound
  ARGV[9]  history only: most tasks an index keeps (historyLimit): only the last that many it was
           given are listed

  Record keys are built here from the prefix, as they are only known once the index is read; they
  share the shadow's hash tag.

  A schedule position is found again by the rank of its member; should that member have left the
  schedule meanwhile, by counting what sorts before it: the entries of an earlier score, and those
  of the same score whose member sorts before it (a sorted set orders equal scores by their bytes).
  A history position stays where it is: entries leave a history index only from its old end.

  A history index holds a task once for each time it ended, but lists it only from the entry whose
  time is its record's `finished` (the last time it ended), and once a page.

  Returns { next, key, score, fields, key, score, fields, ... }: next is where this page ended, or
  "" when nothing is left; per task its stored key, its score (the due time in the schedule, the
  time it ended in a history index, "" in the stream) and its record as HGETALL gives it.
]]
local index = KEYS[1]
local state, limit, budget, only, prefix, group, position, earliest, historyLimit =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])

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
-- is full or the budget spent. fetch(want) reads the next batch of about `want` entries and answers
-- it with its number of entries and whether the index ran out with it; visit(batch, i) looks at
-- its i-th, answering false for one past the end of what is read. Answers whether the index ran
-- out; if not, the caller asks whether anything is left.
local function walk(fetch, visit)
  while found < limit and examined < budget do
    local want = math.min(budget - examined, math.max(limit - found, 50))
    local batch, count, exhausted = fetch(want)
    for i = 1, count do
      if not visit(batch, i) then
        return true
      end
      examined = examined + 1
      if found == limit or examined == budget then
        return false
      end
    end
    if exhausted then
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
    return entries, #entries, #entries < want
  end, function(entries, i)
    local id, fields = entries[i][1], entries[i][2]
    position = id
    from = '(' .. id
    local key, _, task = messageHead(fields)
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

-- a history index (a stream: see shared.lua), newest first: entry by entry, and in an entry from
-- its last key to its first
if state ~= 'scheduled' then
  -- one entry's fields: its count (n), the time its tasks ended (t) and their keys, or nil for an
  -- entry of another layout
  local function unpackEntry(entry)
    local fields = entry[2]
    local n, at, text
    for j = 1, #fields, 2 do
      local name = fields[j]
      if name == 'n' then n = tonumber(fields[j + 1]) elseif name == 't' then at = fields[j + 1] elseif name == 'k' then text = fields[j + 1] end
    end
    if not (n and at and text) then
      return nil
    end
    local keys = {}
    for key in string.gmatch(text, '[^\31]+') do
      keys[#keys + 1] = key
    end
    return n, at, keys
  end
  -- the tasks the index was ever given (see shared.lua); those up to `oldest` are past the limit
  local oldest = historyCount(index) - historyLimit
  -- reading goes on from the entry and place the previous page ended at
  local readFrom, placeFrom = nil, nil
  if position ~= '' then
    local space = string.find(position, ' ', 1, true)
    readFrom, placeFrom = string.sub(position, 1, space - 1), tonumber(string.sub(position, space + 1))
  end
  -- the items of entry `entry` (id, fields) before place `before`, newest first: { key, time, id, place, count }
  local function itemsOf(entry, before, items)
    local n, at, keys = unpackEntry(entry)
    if not n then
      return
    end
    for place = math.min(before, #keys + 1) - 1, 1, -1 do
      -- the count of this key: the entry's own count (n) is its last key's
      items[#items + 1] = { keys[place], at, entry[1], place, n - #keys + place }
    end
  end
  local entriesWanted = 1
  local seen = {}
  local ended = walk(function(want)
    local items = {}
    if readFrom and placeFrom and placeFrom > 1 then
      -- what is left of the entry the last page stopped in
      local entry = redis.call('XRANGE', index, readFrom, readFrom)[1]
      if entry then
        itemsOf(entry, placeFrom, items)
      end
    end
    placeFrom = nil
    local exhausted = false
    while #items < want and not exhausted do
      local entries = redis.call('XREVRANGE', index, readFrom and '(' .. readFrom or '+', '-', 'COUNT', entriesWanted)
      exhausted = #entries < entriesWanted
      for _, entry in ipairs(entries) do
        itemsOf(entry, math.huge, items)
        readFrom = entry[1]
      end
      -- entries hold up to a hundred tasks: ask for few at first, more while they hold few
      entriesWanted = math.min(100, entriesWanted * 2)
    end
    return items, #items, exhausted
  end, function(items, i)
    local key, at, id, place, count = unpack(items[i])
    if count <= oldest or (earliest and tonumber(at) < earliest) then
      return false
    end
    position = id .. ' ' .. place
    if not seen[key] then
      seen[key] = true
      local record = redis.call('HGETALL', prefix .. key)
      -- the entry lists the task only while it is the one of the time it ended last
      if field(record, 'finished') == at then
        keep(key, at, record)
      end
    end
    return true
  end)
  if not ended and position ~= '' then
    -- anything left to read: the rest of the entry the page stopped in, or an older entry
    local space = string.find(position, ' ', 1, true)
    local id, place = string.sub(position, 1, space - 1), tonumber(string.sub(position, space + 1))
    local nextEntry
    if place > 1 then
      nextEntry = redis.call('XRANGE', index, id, id)[1]
    else
      nextEntry = redis.call('XREVRANGE', index, '(' .. id, '-', 'COUNT', 1)[1]
      place = math.huge
    end
    if nextEntry then
      local items = {}
      itemsOf(nextEntry, place, items)
      local item = items[1]
      if item and item[5] > oldest and (not earliest or tonumber(item[2]) >= earliest) then
        out[1] = position
      end
    end
  end
  return out
end

-- the schedule, earliest first
local rank = 0
if position ~= '' then
  local space = string.find(position, ' ', 1, true)
  local score, member = string.sub(position, 1, space - 1), string.sub(position, space + 1)
  local stored = redis.call('ZSCORE', index, member)
  if stored and tonumber(stored) == tonumber(score) then
    rank = redis.call('ZRANK', index, member) + 1
  else
    -- the member left: count what sorts before its place
    rank = redis.call('ZCOUNT', index, '-inf', '(' .. score)
    for _, tied in ipairs(redis.call('ZRANGEBYSCORE', index, score, score)) do
      if after(member, tied) then
        rank = rank + 1
      end
    end
  end
end

local ended = walk(function(want)
  local entries = redis.call('ZRANGE', index, rank, rank + want - 1, 'WITHSCORES')
  return entries, #entries / 2, #entries / 2 < want
end, function(entries, i)
  local key, score = entries[2 * i - 1], entries[2 * i]
  rank = rank + 1
  position = score .. ' ' .. key
  keep(key, score, redis.call('HGETALL', prefix .. key))
  return true
end)
if not ended and #redis.call('ZRANGE', index, rank, rank) > 0 then
  out[1] = position
end
return out
