--[[
  Runs finished tasks again under the same keys, with the same params, atomically for the whole
  batch: each task whose record is still the one the caller read and checked against the strikes
  (the same generation, still completed, failed, cancelled or struck) is queued afresh, as attempt
  1 of a new generation; its history entries stay, but no longer list it (see list.lua). A task no
  worker knew gets its whole unknownTaskTimeout again (its deferrals are forgotten). Any other is
  left as it is. The whole call is refused when the caller's strike version is stale, as add.lua
  refuses one.

  KEYS[1]  stream                    {name}:stream
  KEYS[2]  strikes version string    {name}:strikes:version
  KEYS[3]  events log stream         {name}:events:log

  ARGV[1]  now, epoch ms
  ARGV[2]  strikes version the caller checked the tasks against
  ARGV[3]  task record key prefix    {name}:task:
  ARGV[4]  most events the events log keeps (0: write no events)
  ARGV[5..] per task, two slots: task key (stored form), the generation the caller read

  Record keys are built here from their prefix, as finish.lua does; they share the shadow's hash
  tag. Each task queued appends a "retrying" event (attempt 1, state queued).

  Returns { "stale" } (nothing written), or one reply per task:
    "retried"                        queued afresh
    "missing"                        no record: unknown, or it expired
    "scheduled" | "queued" | "running"   the key is taken by a live task
    "changed"                        the record is another generation than the one read
]]
local stream, log = KEYS[1], KEYS[3]
local now, prefix, eventsLimit = ARGV[1], ARGV[3], ARGV[4]

if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then
  return { 'stale' }
end

local finished = { completed = true, failed = true, cancelled = true, struck = true }
local replies = {}
for n = 5, #ARGV, 2 do
  local key, gen = ARGV[n], ARGV[n + 1]
  local record = prefix .. key
  local f = redis.call('HMGET', record, 'state', 'gen', 'task', 'params', 'trace')
  local state, task = f[1], f[3] or ''
  if not state then
    replies[#replies + 1] = 'missing'
  elseif not finished[state] then
    replies[#replies + 1] = state
  elseif f[2] ~= gen then
    replies[#replies + 1] = 'changed'
  else
    -- a new generation: a late message or outcome of the earlier run never matches this one
    local next = string.format('%.0f', tonumber(gen) + 1)
    local id = queueMessage(stream, key, task, '', f[5] or '', f[4] or '{}')
    redis.call('HDEL', record, 'attempt', 'result', 'error', 'progress', 'deliveries', 'worker', 'started', 'finished', 'deferrals', 'unknownSince')
    redis.call('HSET', record, 'state', 'queued', 'when', now, 'gen', next, 'sid', id)
    -- live again: the record is kept until the task ends
    redis.call('PERSIST', record)
    appendEvent(log, eventsLimit, 'retrying', key, task, '1', 'queued', '')
    replies[#replies + 1] = 'retried'
  end
end
return replies
