package store

// Keys of the idle scheduler (package idle), in addition to the table in
// keys.go; docs/redis-keys.md has the whole schema.
//
//	key                    type  content                                         TTL
//	<p>idle:{idle}:active  zset  session id → unix ms of its last request, for   none (members leave when
//	                             every session whose idle work is still to come   claimed, or when older
//	                             in its current idle period                       than the retention)
//
// The key has its own hash tag, {idle}: the claim script touches only it, so
// it runs in one cluster slot. CommitTurn writes it in the same MULTI as the
// session's keys on a single node or sentinel, and next to the lineage write
// (another slot) on a cluster.

// IdleSetKey names the active set (under the key prefix, see Key). Package
// idle owns its claims; it is named here because the session commit arms
// it and DeleteSession removes a session from it.
const IdleSetKey = "idle:{idle}:active"

func (k keys) idleActive() string { return k.prefix + IdleSetKey }
