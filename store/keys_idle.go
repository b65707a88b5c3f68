package store

// Keys of the idle scheduler (package idle), in addition to the table in
// keys.go. Like keys.go, this is the only place they are built.
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

func (k keys) idleActive() string { return k.prefix + "idle:{idle}:active" }
