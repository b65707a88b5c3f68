package batching

import "github.com/redis/go-redis/v9"

// The batch queue's atomic steps, one Lua script each. Every script gets the
// fixed KEYS of queueKeys.batchKeys (plus, for enqueue, the refused key of the
// item's group); the prelude names them and holds the shared helpers.
//
// Records are JSON objects whose values are all strings (cjson's number
// formatting differs between Redis and miniredis; strings do not). Times are
// unix milliseconds computed by the caller, so one clock (the instances',
// kept in sync by NTP) decides both ages and lease expiry.
const batchPrelude = `
local Q, ITEMS, WHERE, RECS, RITEMS, LEASES, STATS, KNOWN =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]

-- lease takes (or renews) the lease name for owner until expiry, unless
-- another owner holds it unexpired.
local function lease(name, owner, now, expiry)
  local v = redis.call('HGET', LEASES, name)
  if v then
    local sep = string.find(v, '|', 1, true)
    local o, e = string.sub(v, 1, sep - 1), tonumber(string.sub(v, sep + 1))
    if o ~= owner and e > tonumber(now) then return false end
  end
  redis.call('HSET', LEASES, name, owner .. '|' .. expiry)
  return true
end

local function getrec(id)
  local v = redis.call('HGET', RECS, id)
  if not v then return nil end
  return cjson.decode(v)
end

local function putrec(r) redis.call('HSET', RECS, r.id, cjson.encode(r)) end

local function delrec(id)
  redis.call('HDEL', RECS, id)
  redis.call('HDEL', RITEMS, id)
  redis.call('HDEL', LEASES, id)
end

-- join is table.concat(list, ',') in chunks: gopher-lua (miniredis, the
-- embedded store) overflows its registry concatenating thousands at once.
local function join(list)
  local parts, n = {}, #list
  for i = 1, n, 256 do
    parts[#parts + 1] = table.concat(list, ',', i, math.min(i + 255, n))
  end
  return table.concat(parts, ',')
end

-- newrec makes a record of cids in state, leased to owner.
local function newrec(group, state, cids, now, owner, expiry)
  local id = 'r' .. redis.call('HINCRBY', STATS, 'seq', 1)
  local n = tostring(#cids)
  putrec({id = id, state = state, group = group, t0 = now, n = n, left = n, attempts = '0'})
  redis.call('HSET', RITEMS, id, join(cids))
  for _, cid in ipairs(cids) do redis.call('HSET', WHERE, cid, id) end
  lease(id, owner, now, expiry)
  return id
end

-- claim removes cid from record id if it still belongs to it; returns its
-- item (or nil).
local function claim(id, cid)
  if redis.call('HGET', WHERE, cid) ~= id then return nil end
  local data = redis.call('HGET', ITEMS, cid)
  redis.call('HDEL', WHERE, cid)
  redis.call('HDEL', ITEMS, cid)
  return data or ''
end

local function counted(r, claimed, counter)
  if claimed == 0 then return end
  if r then
    r.left = tostring(tonumber(r.left) - claimed)
    putrec(r)
  end
  if counter ~= '' then redis.call('HINCRBY', STATS, counter, claimed) end
end
`

// ARGV: custom_id, group, now, owner, lease expiry. Moves a just-queued
// item of a refused group from the queue into a new sync record leased to
// owner. Returns the record id, or "" when the item has left the queue
// already (a flush took it; the flush sees the refusal itself).
var batchDivertScript = redis.NewScript(batchPrelude + `
if redis.call('LREM', Q, -1, ARGV[2] .. ':' .. ARGV[1]) == 0 then return '' end
redis.call('HINCRBY', STATS, 'refused', 1)
redis.call('HINCRBY', STATS, 'fallback', 1)
return newrec(ARGV[2], 'sync', {ARGV[1]}, ARGV[3], ARGV[4], ARGV[5])
`)

// ARGV: owner, now, lease expiry, max items, max bytes per record, state of
// the new records ("submitting" or "sync"). Takes up to max items off the
// queue head and makes one record per credential group (several when a
// group's items exceed max bytes). Returns the new record ids.
var batchTakeScript = redis.NewScript(batchPrelude + `
local entries = redis.call('LRANGE', Q, 0, tonumber(ARGV[4]) - 1)
if #entries == 0 then return {} end
redis.call('LTRIM', Q, #entries, -1)
local maxBytes = tonumber(ARGV[5])
local groups, order = {}, {}
for _, e in ipairs(entries) do
  local sep = string.find(e, ':', 1, true)
  if sep then
    local g, cid = string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
    local size = redis.call('HSTRLEN', ITEMS, cid)
    if size > 0 then
      local cur = groups[g]
      if cur == nil or cur.bytes + size > maxBytes then
        cur = {group = g, cids = {}, bytes = 0}
        groups[g] = cur
        table.insert(order, cur)
      end
      table.insert(cur.cids, cid)
      cur.bytes = cur.bytes + size
    end
  end
end
local out = {}
for _, c in ipairs(order) do
  table.insert(out, newrec(c.group, ARGV[6], c.cids, ARGV[2], ARGV[1], ARGV[3]))
end
if ARGV[6] == 'sync' then
  for _, id in ipairs(out) do
    local r = getrec(id)
    redis.call('HINCRBY', STATS, 'fallback', tonumber(r.n))
  end
end
return out
`)

// ARGV: record id, owner, now, lease expiry, transition, batch id, created
// ms, adopted ("1" or ""), known cutoff ms. Transitions:
//
//	inflight  submitting → inflight with the upstream batch id
//	sync      submitting or inflight → sync (items run synchronously)
//	attempt   submitting: one more failed reconciliation
//	neterr    submitting: the create's outcome is unknown (transport error)
//
// The caller must hold the record's lease (or it must have expired); the
// lease is renewed to expiry. Returns 1, or 0 when the lease is another's,
// the record is gone, or the transition does not apply.
var batchTransitionScript = redis.NewScript(batchPrelude + `
local r = getrec(ARGV[1])
if not r then return 0 end
if not lease(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
local to = ARGV[5]
if to == 'inflight' then
  if r.state ~= 'submitting' then return 0 end
  r.state, r.batch, r.created, r.adopted = 'inflight', ARGV[6], ARGV[7], ARGV[8]
  redis.call('HINCRBY', STATS, 'batches', 1)
  redis.call('HINCRBY', STATS, 'submitted', tonumber(r.left))
  redis.call('ZADD', KNOWN, ARGV[7], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KNOWN, '-inf', '(' .. ARGV[9])
elseif to == 'sync' then
  if r.state == 'sync' then return 1 end
  if r.state == 'inflight' then redis.call('HINCRBY', STATS, 'abandoned', 1) end
  r.state = 'sync'
  redis.call('HINCRBY', STATS, 'fallback', tonumber(r.left))
elseif to == 'attempt' or to == 'neterr' then
  if r.state ~= 'submitting' then return 0 end
  r.attempts = tostring(tonumber(r.attempts or '0') + 1)
  if to == 'neterr' then r.neterr = '1' end
else
  return redis.error_reply('unknown transition ' .. to)
end
putrec(r)
return 1
`)

// ARGV: record id, counter ("" for none), custom_id... Claims the listed
// items still in the record. Returns {custom_id, item, ...}.
var batchClaimScript = redis.NewScript(batchPrelude + `
local out, claimed = {}, 0
for i = 3, #ARGV do
  local data = claim(ARGV[1], ARGV[i])
  if data then
    claimed = claimed + 1
    table.insert(out, ARGV[i])
    table.insert(out, data)
  end
end
counted(getrec(ARGV[1]), claimed, ARGV[2])
return out
`)

// ARGV: record id, counter. Claims every item left in the record and deletes
// the record and its lease. Returns {custom_id, item, ...}.
var batchFinishScript = redis.NewScript(batchPrelude + `
local out, claimed = {}, 0
local list = redis.call('HGET', RITEMS, ARGV[1])
if list then
  for cid in string.gmatch(list, '[^,]+') do
    local data = claim(ARGV[1], cid)
    if data then
      claimed = claimed + 1
      table.insert(out, cid)
      table.insert(out, data)
    end
  end
end
counted(nil, claimed, ARGV[2])
delrec(ARGV[1])
return out
`)

// ARGV: record id, owner, now, lease expiry. Puts the record's remaining
// items back at the queue head in their order and deletes the record.
// Returns the number requeued, or -1 when the lease is another's or the
// record is gone.
var batchRequeueScript = redis.NewScript(batchPrelude + `
local r = getrec(ARGV[1])
if not r then return -1 end
if not lease(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return -1 end
local cids = {}
local list = redis.call('HGET', RITEMS, ARGV[1]) or ''
for cid in string.gmatch(list, '[^,]+') do
  if redis.call('HGET', WHERE, cid) == ARGV[1] then
    table.insert(cids, cid)
    redis.call('HDEL', WHERE, cid)
  end
end
for i = #cids, 1, -1 do redis.call('LPUSH', Q, r.group .. ':' .. cids[i]) end
if #cids > 0 then redis.call('HINCRBY', STATS, 'requeued', #cids) end
delrec(ARGV[1])
return #cids
`)

// ARGV: record id, limit (0: all). Returns {custom_id, item, ...} of the
// items still in it, in record order.
var batchRecordItemsScript = redis.NewScript(batchPrelude + `
local out, limit = {}, tonumber(ARGV[2])
local list = redis.call('HGET', RITEMS, ARGV[1]) or ''
for cid in string.gmatch(list, '[^,]+') do
  if redis.call('HGET', WHERE, cid) == ARGV[1] then
    table.insert(out, cid)
    table.insert(out, redis.call('HGET', ITEMS, cid) or '')
    if limit > 0 and #out >= 2 * limit then break end
  end
end
return out
`)

// ARGV: name (a record id), owner, now, expiry, mode. Nothing is taken or
// renewed for a record that does not exist. mode "take" takes or renews the
// lease (1 if held afterwards); "free" takes it only if nobody holds it
// unexpired, the owner included; "set" changes the expiry only if owner
// holds it (1 if so). A lease ends by expiring (or with its record).
var batchLeaseScript = redis.NewScript(batchPrelude + `
local mode = ARGV[5]
-- Leases guard records: one for a record that is gone (finished by another
-- instance between its listing and this call) is never taken or kept, or
-- the leases hash would only ever grow.
if redis.call('HEXISTS', RECS, ARGV[1]) == 0 then
  redis.call('HDEL', LEASES, ARGV[1])
  return 0
end
if mode == 'free' then
  local v = redis.call('HGET', LEASES, ARGV[1])
  if v and tonumber(string.sub(v, string.find(v, '|', 1, true) + 1)) > tonumber(ARGV[3]) then return 0 end
  mode = 'take'
end
if mode == 'take' then
  if lease(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end
  return 0
end
local v = redis.call('HGET', LEASES, ARGV[1])
if not v or string.sub(v, 1, string.find(v, '|', 1, true) - 1) ~= ARGV[2] then return 0 end
redis.call('HSET', LEASES, ARGV[1], ARGV[2] .. '|' .. ARGV[4])
return 1
`)
