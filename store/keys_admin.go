package store

import "strings"

// Keys read by the admin view (the admin.api.lore module), beside the
// session's keys of keys.go (the whole schema: docs/redis-keys.md). Like
// keys.go, this is the only place they are built.
//
//	pattern                    matches
//	<p>s:{*}:state             every session's state hash (ListSessions SCANs it)
//
// DeleteSession removes every key of a session: the ones of keys.go, of
// keys_distill.go (package distill), keys_knowledge.go and BatchUsageKey
// (package batching), its field in its lineage hash and in its origin hash,
// and its member of the idle set (keys_idle.go).

// stateScanPattern is the SCAN MATCH pattern of all session state hashes.
// The prefix is escaped, so a prefix with glob characters matches literally.
func (k keys) stateScanPattern() string { return globEscape(k.prefix) + "s:{*}:state" }

// sessionIDOfState returns the session id of a state key, or "".
func (k keys) sessionIDOfState(key string) string {
	rest, ok := strings.CutPrefix(key, k.prefix+"s:{")
	if !ok {
		return ""
	}
	id, ok := strings.CutSuffix(rest, "}:state")
	if !ok || CheckID(id) != nil {
		return ""
	}
	return id
}

// sessionKeys is every per-session key (all in the session's hash slot).
func (k keys) sessionKeys(sid string) []string {
	return []string{
		k.state(sid), k.msgs(sid), k.cred(sid), k.session(sid, BatchUsageKey),
		k.distMark(sid), k.distRows(sid), k.distAhead(sid), k.distAheadIdx(sid),
		k.distArchive(sid), k.distGuard(sid),
		k.knMark(sid), k.knGuard(sid),
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
