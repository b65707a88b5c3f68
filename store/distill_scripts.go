package store

import "github.com/redis/go-redis/v9"

// The Lua scripts of distill.go. Each touches keys of one session only (one
// hash slot) and is atomic. Redis replies false for a missing key, hence the
// "or '0'" defaults.

// The guard hash holds the owner's token and one field "r:<ref>" per
// outstanding reference. References are named, not counted, so releasing
// one twice (a batch result delivered twice, an Apply that fails and then
// Fails) cannot release somebody else's.
var acquireGuardScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'r:' .. ARGV[2], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

var addRefScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[2], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HLEN', KEYS[1]) - 1`)

// Returns the references left (0: the guard is gone), -1 when the guard is
// not the caller's, -2 when this reference was already released.
var releaseRefScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
if redis.call('HDEL', KEYS[1], 'r:' .. ARGV[2]) == 0 then return -2 end
local n = redis.call('HLEN', KEYS[1]) - 1
if n <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return n`)

// KEYS: msgs, mark, ahead:idx.
var pendingScript = redis.NewScript(`
local m = tonumber(redis.call('GET', KEYS[2]) or '0')
return {m, redis.call('ZRANGE', KEYS[3], 0, -1), redis.call('LRANGE', KEYS[1], m, -1)}`)

// KEYS: msgs, mark, ahead:idx.
var countScript = redis.NewScript(`
local m = tonumber(redis.call('GET', KEYS[2]) or '0')
return {m, redis.call('LLEN', KEYS[1]), redis.call('ZRANGE', KEYS[3], 0, -1)}`)

// KEYS: msgs, mark, rows, ahead, ahead:idx. ARGV: id, first, last, json.
// Returns {outcome, mark}. A row overlapping the covered prefix or any
// out-of-order row is rejected; one starting at the watermark is stored and
// the watermark advanced, absorbing out-of-order rows that now follow on;
// one starting above it waits in dist:ahead.
var storeRowScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return {3, 0} end
local mark = tonumber(redis.call('GET', KEYS[2]) or '0')
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
if first < mark or last < first then return {0, mark} end
for _, e in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local f, l = string.match(e, '^(%d+):(%d+):')
  if first <= tonumber(l) and last >= tonumber(f) then return {0, mark} end
end
local outcome = 1
if first > mark then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[1])
  outcome = 2
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
  mark = last + 1
  while true do
    local nxt = redis.call('ZRANGEBYSCORE', KEYS[5], mark, mark)
    if #nxt == 0 then break end
    local l, id = string.match(nxt[1], '^%d+:(%d+):(.+)$')
    local v = redis.call('HGET', KEYS[4], id)
    if v then redis.call('HSET', KEYS[3], id, v) end
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', KEYS[5], nxt[1])
    mark = tonumber(l) + 1
  end
  redis.call('SET', KEYS[2], mark)
end
if ttl > 0 then
  for i = 2, 5 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return {outcome, mark}`)

// KEYS: msgs, rows, archive. ARGV: meta id, meta json, merged ids...
// Returns 1 when done, 0 when a merged row is no longer live (nothing
// written), -1 when the session is gone.
var metaScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return -1 end
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then return 0 end
end
for i = 3, #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], redis.call('HGET', KEYS[2], ARGV[i]))
  redis.call('HDEL', KEYS[2], ARGV[i])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 1`)
