package store

// Distillation keys. Package distill
// owns what is in them, its operations and Lua scripts (distill/rows.go,
// distill/rows_scripts.go), and builds each key with
// SessionKey(sid, <name>) from the names below. The names are defined here,
// once, because the keys are part of the session: CopyHistory
// (continuity.go) copies them and DeleteSession (keys_admin.go) removes them
// in the session's own transaction, and LoadTurn (turnload.go) reads
// dist:rows in the turn's one round trip.
//
// All carry the session's hash tag, so distill's scripts, which touch
// several of them at once, run in one cluster slot. Their TTL follows the
// session's message list (<p>s:{<sid>}:msgs, MessagesKey): every script that
// writes them copies that list's remaining TTL, so a session's
// distillations expire with its messages and never outlive them.
//
// Each key's type, content and TTL: docs/redis-keys.md.

// The names of the distillation keys under a session (SessionKey).
const (
	DistMarkKey     = "dist:mark"
	DistRowsKey     = "dist:rows"
	DistAheadKey    = "dist:ahead"
	DistAheadIdxKey = "dist:ahead:idx"
	DistArchiveKey  = "dist:archive"
	DistGuardKey    = "dist:guard"
)

func (k keys) distMark(sid string) string     { return k.session(sid, DistMarkKey) }
func (k keys) distRows(sid string) string     { return k.session(sid, DistRowsKey) }
func (k keys) distAhead(sid string) string    { return k.session(sid, DistAheadKey) }
func (k keys) distAheadIdx(sid string) string { return k.session(sid, DistAheadIdxKey) }
func (k keys) distArchive(sid string) string  { return k.session(sid, DistArchiveKey) }
func (k keys) distGuard(sid string) string    { return k.session(sid, DistGuardKey) }
