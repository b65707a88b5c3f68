package store

// A session's curation keys, in addition to the table in keys.go (the
// knowledge entries are package knowledge's, knowledge/entries.go). They
// carry the session's hash tag, so DeleteSession removes them with the rest
// of the session.
//
//	key                              type    content                                    TTL
//	<p>s:{<sid>}:kn:mark             string  curated-up-to: the count of stored         the session's message list TTL
//	                                         messages (list entries) the curator saw
//	<p>s:{<sid>}:kn:guard            string  in-flight curation token (SET NX PX)       the guard TTL
//
// The session's knowledge block lives in its state hash (field "ltm", see
// session.go), read with the session and written only when it changes.
//
// The session's turns_since_curation field (keys.go, session.go) counts
// turns since the last successful curation: CommitTurn increments it and
// ResetCuration subtracts what a curation covered, both atomically, so a
// turn committed while a curation is in flight is never lost.

func (k keys) knMark(sid string) string  { return k.prefix + "s:{" + sid + "}:kn:mark" }
func (k keys) knGuard(sid string) string { return k.prefix + "s:{" + sid + "}:kn:guard" }
