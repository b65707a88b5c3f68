package batching

import "github.com/caddy-lore/caddy-lore/store"

// Keys of the durable batch queue. This is the only place they are built.
// <p> is the key prefix.
//
// Every queue key carries the hash tag {batch}, so all of them live in one
// cluster slot and the Lua scripts of redis_scripts.go, which touch several of them
// atomically, work on a cluster too. The per-session usage key carries the
// session's own tag and is only ever written alone.
//
// Each key's type, content and TTL: docs/redis-keys.md.
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
