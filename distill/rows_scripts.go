package distill

import "github.com/redis/go-redis/v9"

// The Lua scripts of rows.go. Each touches keys of one session only (one
// hash slot) and is atomic. Redis replies false for a missing key, hence the
// "or '0'" defaults.

// The guard hash (docs/context-window.md, Distillation: in-flight guard) is
// shared by the runs that hold it. Fields:
//
//	h:<token>        "<u>:<deadline>": one holder (a run and its worker calls); u is 1
//	                 for an urgent run, 0 for a non-urgent one; deadline (unix ms) is
//	                 when the holder lapses without news
//	r:<token>:<ref>  1: one outstanding reference of that holder
//
// A non-urgent run takes the guard only when nobody holds it; an urgent run
// also when every holder is non-urgent (their calls may sit in a batch for
// minutes, and an urgent run must not wait for them), never beside another
// urgent one. References are named per holder, not counted, so releasing
// one twice (a batch result delivered twice, an Apply that fails and then
// Fails) cannot release somebody else's, and a late batched result cannot
// release the urgent run's. A holder leaves when its last reference goes,
// the hash when no reference is left. Holders lapse one by one at their own
// deadline (checked against the caller's clock, ARGV now): an urgent run
// joining the hash does not prolong a forgotten non-urgent holder. The key's
// PX is the latest deadline, so an abandoned hash disappears on its own.
const guardLib = `
local function load(key, now)
  local flat = redis.call('HGETALL', key)
  local g = {holders = {}, refs = {}, total = 0, urgent = false}
  for i = 1, #flat, 2 do
    local t = string.match(flat[i], '^h:(.+)$')
    local u, d = string.match(flat[i + 1], '^([01]):(%d+)$')
    if t and d and tonumber(d) > now then
      g.holders[t] = {u = u, deadline = tonumber(d)}
      g.refs[t] = 0
    end
  end
  for i = 1, #flat, 2 do
    local t = string.match(flat[i], '^r:([^:]+):')
    if t and g.refs[t] then
      g.refs[t] = g.refs[t] + 1
      g.total = g.total + 1
    end
  end
  local stale = {}
  for i = 1, #flat, 2 do
    local f = flat[i]
    local t = string.match(f, '^h:(.+)$') or string.match(f, '^r:([^:]+):')
    if not t or not g.refs[t] or g.refs[t] == 0 then stale[#stale + 1] = f end
  end
  for i = 1, #stale do
    local t = string.match(stale[i], '^h:(.+)$')
    if t then g.holders[t] = nil g.refs[t] = nil end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  for _, h in pairs(g.holders) do
    if h.u == '1' then g.urgent = true end
  end
  return g
end
local function expire(key, g, now)
  local last = 0
  for _, h in pairs(g.holders) do
    if h.deadline > last then last = h.deadline end
  end
  redis.call('PEXPIRE', key, math.max(last - now, 1))
end
`

// ARGV: token, ref, urgent ("1" or "0"), deadline, now. Returns 1 when the
// guard was free, 2 when an urgent run joined non-urgent holders, 0 when
// the caller may not take it.
var acquireGuardScript = redis.NewScript(guardLib + `
local now = tonumber(ARGV[5])
local g = load(KEYS[1], now)
local out = 1
if next(g.holders) ~= nil then
  if ARGV[3] ~= '1' or g.urgent then return 0 end
  out = 2
end
redis.call('HSET', KEYS[1], 'h:' .. ARGV[1], ARGV[3] .. ':' .. ARGV[4], 'r:' .. ARGV[1] .. ':' .. ARGV[2], 1)
g.holders[ARGV[1]] = {u = ARGV[3], deadline = tonumber(ARGV[4])}
expire(KEYS[1], g, now)
return out`)

// ARGV: token, ref, deadline, now. Returns the references now held in the
// guard (all holders), -1 when the caller is not a holder.
var addRefScript = redis.NewScript(guardLib + `
local now = tonumber(ARGV[4])
local g = load(KEYS[1], now)
local h = g.holders[ARGV[1]]
if not h then return -1 end
g.total = g.total + redis.call('HSET', KEYS[1], 'r:' .. ARGV[1] .. ':' .. ARGV[2], 1)
if tonumber(ARGV[3]) > h.deadline then
  h.deadline = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'h:' .. ARGV[1], h.u .. ':' .. ARGV[3])
end
expire(KEYS[1], g, now)
return g.total`)

// ARGV: token, ref, now. Returns the references left in the guard (all
// holders; 0: the guard is gone), -1 when the caller is not a holder, -2
// when this reference was already released.
var releaseRefScript = redis.NewScript(guardLib + `
local now = tonumber(ARGV[3])
local g = load(KEYS[1], now)
local t = ARGV[1]
if not g.holders[t] then return -1 end
if redis.call('HDEL', KEYS[1], 'r:' .. t .. ':' .. ARGV[2]) == 0 then return -2 end
g.total = g.total - 1
g.refs[t] = g.refs[t] - 1
if g.refs[t] == 0 then
  redis.call('HDEL', KEYS[1], 'h:' .. t)
  g.holders[t] = nil
end
if g.total <= 0 then redis.call('DEL', KEYS[1]) return 0 end
expire(KEYS[1], g, now)
return g.total`)

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
