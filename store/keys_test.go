package store

import "testing"

// The per-session keys a feature builds with SessionKey from the names
// exported here are byte for byte the keys earlier versions wrote (the
// expressions on the right are the old key builders): data already in
// Redis stays readable.
func TestSessionKeyNames(t *testing.T) {
	s := &Store{keys: keys{prefix: "lore:"}}
	k := s.keys
	for _, sid := range []string{"S1", "20260303T140000Z-0123456789abcdef"} {
		for _, c := range [][2]string{
			{s.SessionKey(sid, MessagesKey), k.prefix + "s:{" + sid + "}:msgs"},
			{s.SessionKey(sid, DistMarkKey), k.prefix + "s:{" + sid + "}:dist:mark"},
			{s.SessionKey(sid, DistRowsKey), k.prefix + "s:{" + sid + "}:dist:rows"},
			{s.SessionKey(sid, DistAheadKey), k.prefix + "s:{" + sid + "}:dist:ahead"},
			{s.SessionKey(sid, DistAheadIdxKey), k.prefix + "s:{" + sid + "}:dist:ahead:idx"},
			{s.SessionKey(sid, DistArchiveKey), k.prefix + "s:{" + sid + "}:dist:archive"},
			{s.SessionKey(sid, DistGuardKey), k.prefix + "s:{" + sid + "}:dist:guard"},
			{k.msgs(sid), "lore:s:{" + sid + "}:msgs"},
			{k.distMark(sid), "lore:s:{" + sid + "}:dist:mark"},
			{k.distRows(sid), "lore:s:{" + sid + "}:dist:rows"},
			{k.distAhead(sid), "lore:s:{" + sid + "}:dist:ahead"},
			{k.distAheadIdx(sid), "lore:s:{" + sid + "}:dist:ahead:idx"},
			{k.distArchive(sid), "lore:s:{" + sid + "}:dist:archive"},
			{k.distGuard(sid), "lore:s:{" + sid + "}:dist:guard"},
		} {
			if c[0] != c[1] {
				t.Errorf("key %q, want %q", c[0], c[1])
			}
		}
	}
}
