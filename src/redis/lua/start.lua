--[[
  Claims a batch of delivered stream messages for one worker: each task whose record still matches
  the message (same generation, not cancelled) becomes running; stale messages are acknowledged
  and dropped.

  KEYS[1]    stream                    {name}:stream
  KEYS[2]    strikes version string    {name}:strikes:version
  KEYS[3..]  the task record of each message, in message order

  ARGV[1]  consumer group
  ARGV[2]  worker name
  ARGV[3]  now, epoch ms
  ARGV[4]  strikes version the worker holds
  ARGV[5]  "1" when the messages were reclaimed from a dead worker (a running record is expected)

  A record already running on this worker is started again too: that happens when a call was
  resent after a dropped connection. The worker itself skips messages it is running.
  ARGV[6..] per message: stream id, generation

  Returns { "stale" } when the worker's strikes are out of date (nothing changed), else one entry per
  message: { "run", task, params, when, attempt, deliveries } or { "drop" }.
]]
local stream, group, worker = KEYS[1], ARGV[1], ARGV[2]
local now, reclaimed = ARGV[3], ARGV[5] == '1'

if (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then
  return { 'stale' }
end

local out = {}
for i = 3, #KEYS do
  local n = (i - 3) * 2 + 6
  local id, gen = ARGV[n], ARGV[n + 1]
  local f = redis.call('HMGET', KEYS[i], 'gen', 'state', 'task', 'params', 'when', 'attempt', 'deliveries', 'worker')
  local state = f[2]
  -- running on this very worker: this call is a resend (the connection dropped before the reply
  -- of the first one arrived), so the worker never started it: start it now
  local resent = state == 'running' and f[8] == worker
  if f[1] == gen and (state == 'queued' or resent or (reclaimed and state == 'running')) then
    local deliveries = (tonumber(f[7]) or 0) + 1
    redis.call('HSET', KEYS[i], 'state', 'running', 'worker', worker, 'started', now, 'deliveries', deliveries)
    -- a first attempt stores no attempt field
    out[#out + 1] = { 'run', f[3], f[4], f[5], f[6] or '1', deliveries }
  else
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    out[#out + 1] = { 'drop' }
  end
end
return out
