package store

// The key of the idle scheduler (package idle): its type, content and TTL
// are in docs/redis-keys.md, with every other key.
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
