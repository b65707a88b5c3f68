package store

// A session's curation keys. Package
// knowledge owns what is in them and the operations on them
// (knowledge/curation_state.go) and builds each key with
// SessionKey(sid, <name>) from the names below; the names are defined here,
// once, because the keys are part of the session: they carry its hash tag,
// CopyHistory copies the mark and DeleteSession removes both with the rest
// of the session.
//
// Each key's type, content and TTL: docs/redis-keys.md.
//
// The session's knowledge block lives in its state hash (field "ltm", see
// session.go), read with the session and written only when it changes.
//
// The session's turns_since_curation field (CurationField, session.go)
// counts turns since the last successful curation: CommitTurn increments it
// (sets it to 1 for a new session) and knowledge.CurationDone subtracts what
// a curation covered, both atomically, so a turn committed while a curation
// is in flight is never lost.

// The names of the curation keys under a session (SessionKey), and of the
// session hash's field counting the turns since the last curation.
const (
	CurationMarkKey  = "kn:mark"
	CurationGuardKey = "kn:guard"
	CurationField    = fCuration
)

func (k keys) knMark(sid string) string  { return k.session(sid, CurationMarkKey) }
func (k keys) knGuard(sid string) string { return k.session(sid, CurationGuardKey) }
