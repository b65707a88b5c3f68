package store

// Distillation keys, in addition to the table in keys.go. Package distill
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
//	key                           type    content
//	<p>s:{<sid>}:dist:mark        string  distilled-up-to watermark: the count of stored
//	                                      messages (list entries, append order) covered by
//	                                      the rows in dist:rows; entries >= it are undistilled
//	<p>s:{<sid>}:dist:rows        hash    row id → distill.Row JSON: the live rows, gen-0 and
//	                                      meta, all at or below the watermark
//	<p>s:{<sid>}:dist:ahead       hash    row id → distill.Row JSON: gen-0 rows that arrived out
//	                                      of order (a hole before them); moved to dist:rows
//	                                      when the hole is filled
//	<p>s:{<sid>}:dist:ahead:idx   zset    "<first>:<last>:<id>" scored by first, the ranges
//	                                      of dist:ahead for the scripts (no JSON in Lua)
//	<p>s:{<sid>}:dist:archive     hash    row id → distill.Row JSON: rows merged into a meta row
//	<p>s:{<sid>}:dist:guard       hash    in-flight guard: h:<token> → "<urgent 0|1>:<deadline ms>"
//	                                      per holder (a run), r:<token>:<ref> → 1 per outstanding
//	                                      reference (distill/rows_scripts.go); PX = the latest
//	                                      holder deadline, pushed by every distill.AddRef;
//	                                      deleted when no reference is left

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
