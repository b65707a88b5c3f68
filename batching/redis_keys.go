package batching

import "github.com/caddy-lore/caddy-lore/store"

// Keys of the durable batch queue. This is the only place they are built
// (docs/redis-keys.md has the whole schema). <p> is the key prefix.
//
// Every queue key carries the hash tag {batch}, so all of them live in one
// cluster slot and the Lua scripts of redis_scripts.go, which touch several of them
// atomically, work on a cluster too. The per-session usage key carries the
// session's own tag and is only ever written alone.
//
//	key                          type    content                                          TTL
//	<p>bq:{batch}:queue          list    "<group>:<custom_id>", oldest first              none (durable)
//	<p>bq:{batch}:items          hash    custom_id → item (opaque bytes: call, sealed     none; deleted when the
//	                                     credential, enqueue time)                        item is claimed, dropped
//	                                                                                      (unrun) once older than
//	                                                                                      retention, and removed
//	                                                                                      with its session (admin
//	                                                                                      DELETE, DropQueued)
//	<p>bq:{batch}:where          hash    custom_id → record id, while the item belongs    none
//	                                     to a record (submitting, in flight or sync)
//	<p>bq:{batch}:recs           hash    record id → record JSON (see Record)        none; deleted when done
//	<p>bq:{batch}:ritems         hash    record id → its custom_ids, comma-separated      as recs
//	<p>bq:{batch}:leases         hash    lease name (a record id) → "<owner>|<expiry ms>" as recs
//	<p>bq:{batch}:stats          hash    counters (Count* constants) and the record seq   none
//	<p>bq:{batch}:known          zset    upstream batch id → created ms, every batch      trimmed to 7 days
//	                                     this queue ever recorded (reconciliation)
//	<p>bq:{batch}:instances      hash    lease owner → expiry ms of a live queue instance none; expired fields
//	                                     (heartbeat from its poll loop)                    pruned on read
//	<p>bq:{batch}:refused:<grp>  string  "1": the batch API refused this credential group RedisQueue.Refuse's ttl
//	                                                                                      (≤ retention)
//	<p>s:{<sid>}:batch           hash    token sums of the session's batched calls        the ttl given to
//	                                     (calls, input, output, cache_read, cache_write)   AddSessionUsage (the
//	                                                                                      gateway's retention)
//
// <grp> is a keyed hash of the credential (auth.Keyring.Namespace), never the
// credential itself.

// queueKeys builds the queue's keys under the store's key prefix.
type queueKeys struct{ st *store.Store }

func (k queueKeys) batchQueue() string     { return k.st.Key("bq:{batch}:queue") }
func (k queueKeys) batchItems() string     { return k.st.Key("bq:{batch}:items") }
func (k queueKeys) batchWhere() string     { return k.st.Key("bq:{batch}:where") }
func (k queueKeys) batchRecs() string      { return k.st.Key("bq:{batch}:recs") }
func (k queueKeys) batchRItems() string    { return k.st.Key("bq:{batch}:ritems") }
func (k queueKeys) batchLeases() string    { return k.st.Key("bq:{batch}:leases") }
func (k queueKeys) batchStats() string     { return k.st.Key("bq:{batch}:stats") }
func (k queueKeys) batchKnown() string     { return k.st.Key("bq:{batch}:known") }
func (k queueKeys) batchInstances() string { return k.st.Key("bq:{batch}:instances") }
func (k queueKeys) batchRefused(group string) string {
	return k.st.Key("bq:{batch}:refused:" + group)
}
func (k queueKeys) sessionBatch(sid string) string { return k.st.SessionKey(sid, store.BatchUsageKey) }

// batchKeys is the fixed KEYS list of every batch script, in the order the
// scripts' prelude names them.
func (k queueKeys) batchKeys() []string {
	return []string{
		k.batchQueue(), k.batchItems(), k.batchWhere(), k.batchRecs(),
		k.batchRItems(), k.batchLeases(), k.batchStats(), k.batchKnown(),
	}
}
