package store

import (
	"errors"
	"strings"
	"time"
)

// The session's keys (state, messages, sealed credential) and the lineage and
// origin indexes. Each Redis key of the gateway is built in one place, its
// owner's key file; docs/redis-keys.md is the whole schema in one table. <p>
// is the configured key prefix (default "lore:").
//
// The part in braces is the Redis Cluster hash tag: only it is hashed to pick
// the slot, so all keys of one session live in one slot (one node), and a
// MULTI or Lua script over them works in cluster mode too.
//
// Each key's type, content and TTL: docs/redis-keys.md.
//
// A lineage hash can outlive some of its sessions (its TTL is refreshed by its
// newest session); its stale fields point at sessions that no longer exist,
// which LoadSession reports as (nil, nil).

// DefaultRetention is the TTL of a session's keys when Turn.Retention is 0.
const DefaultRetention = 30 * 24 * time.Hour

// maxIDLen bounds session and lineage ids; real ones are 17 to 32 bytes.
const maxIDLen = 256

// ErrInvalidID is returned for an empty or malformed session or lineage id,
// before any network call.
var ErrInvalidID = errors.New("store: invalid session or lineage id")

// keys builds the keys of one store handle.
type keys struct{ prefix string }

// session is the key <p>s:{<sid>}:<name>.
func (k keys) session(sid, name string) string { return k.prefix + "s:{" + sid + "}:" + name }

// BatchUsageKey names the per-session hash of the session's batched calls'
// token sums (package batching owns it; SessionKey builds it). It is listed
// here because the session owns its lifetime: DeleteSession removes it.
const BatchUsageKey = "batch"

// StateKey names the session's state hash: a session exists while it does
// (package idle checks that for the sessions it claims).
const StateKey = "state"

// MessagesKey names the session's message list. Package distill's scripts
// read it (the list indices they cover, the TTL they copy).
const MessagesKey = "msgs"

func (k keys) state(sid string) string { return k.session(sid, StateKey) }
func (k keys) msgs(sid string) string  { return k.session(sid, MessagesKey) }
func (k keys) cred(sid string) string  { return k.session(sid, "cred") }
func (k keys) lineage(l string) string { return k.prefix + "lin:{" + l + "}" }
func (k keys) origin(o string) string  { return k.prefix + "orig:{" + o + "}" }

// CheckID refuses ids that would break the schema: empty ("{}" is no hash
// tag, which would scatter a session's keys over slots), braces (they would
// end the hash tag early, same effect), control characters and spaces (keys
// are shown in admin output and logs), and absurd lengths.
func CheckID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return ErrInvalidID
	}
	if strings.ContainsFunc(id, func(r rune) bool {
		return r == '{' || r == '}' || r <= ' ' || r == 0x7f
	}) {
		return ErrInvalidID
	}
	return nil
}
