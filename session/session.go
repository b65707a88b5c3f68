// Package session identifies which conversation a request belongs to.
//
// Every session lives under its credential's namespace (a keyed hash), so a
// caller who presents somebody else's session id only ever reaches a session
// of their own. Within a namespace, requests are grouped into a lineage —
// (client session id, model, first user message) — and the reference's fork
// rule picks among the sessions of a lineage by message count.
package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// ForkThreshold is how many messages shorter than a session a request may be
// and still continue it; shorter requests start a new session (a fork, or a
// sub-agent conversation).
const ForkThreshold = 20

// ClientID returns the client's own session id and where it came from, in
// this order (docs/sessions-and-identity.md, Session ids and lineages): Claude Code's metadata.user_id (JSON or legacy form), the
// x-claude-code-session-id header, then an explicit x-lore-session-id header.
// Empty when the client sent none.
func ClientID(metadataUserID string, h http.Header) (id, source string) {
	if id = fromUserID(metadataUserID); id != "" {
		return id, "metadata"
	}
	if id = strings.TrimSpace(h.Get("X-Claude-Code-Session-Id")); id != "" {
		return id, "claude-code"
	}
	if id = strings.TrimSpace(h.Get("X-Lore-Session-Id")); id != "" {
		return id, "lore"
	}
	return "", ""
}

// fromUserID parses Claude Code's metadata.user_id: a JSON string with a
// session_id (v2.1.78+) or user_<hex>_account_<uuid>_session_<uuid> (older).
func fromUserID(uid string) string {
	uid = strings.TrimSpace(uid)
	if uid == "" {
		return ""
	}
	if uid[0] == '{' {
		var v struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal([]byte(uid), &v) == nil {
			return strings.TrimSpace(v.SessionID)
		}
		return ""
	}
	if i := strings.LastIndex(uid, "_session_"); i >= 0 && strings.HasPrefix(uid, "user_") {
		return uid[i+len("_session_"):]
	}
	return ""
}

// Lineage names the group of sessions a request may continue. namespace is
// the credential's keyed hash; clientSource/clientID the client's own session
// id (empty without one); firstUserText the text of the first user message.
// The first user message is part of it even with a client id because Claude
// Code's sub-agents share the parent's session id but not its history.
func Lineage(namespace, model, clientSource, clientID, firstUserText string) string {
	h := sha256.New()
	for _, part := range []string{namespace, model, clientSource, clientID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	first := sha256.Sum256([]byte(firstUserText))
	h.Write(first[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Choose applies the fork rule to a lineage's candidates (session id →
// message count of its last request): candidates more than ForkThreshold
// messages longer than the request are forks of something else; among the
// rest the closest count wins (ties broken by id for determinism).
func Choose(candidates map[string]int, messages int) (string, bool) {
	best, bestDiff := "", -1
	for id, count := range candidates {
		diff := messages - count
		if diff < -ForkThreshold {
			continue
		}
		if diff < 0 {
			diff = -diff
		}
		if bestDiff < 0 || diff < bestDiff || (diff == bestDiff && id < best) {
			best, bestDiff = id, diff
		}
	}
	return best, bestDiff >= 0
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID makes a session id as the reference does: 8 random bytes and the unix
// time in seconds (big-endian uint32), read as one number, written in base62,
// left-padded with '0' to 17 characters.
func NewID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:8])
	binary.BigEndian.PutUint32(b[8:], uint32(now.Unix()))
	s := new(big.Int).SetBytes(b[:]).Text(62)
	// big.Int.Text(62) uses 0-9a-zA-Z; the reference alphabet is 0-9A-Za-z.
	out := []byte(s)
	for i, c := range out {
		switch {
		case c >= 'a' && c <= 'z':
			out[i] = base62[10+int(c-'a')]
		case c >= 'A' && c <= 'Z':
			out[i] = base62[36+int(c-'A')]
		}
	}
	if pad := 17 - len(out); pad > 0 {
		return strings.Repeat("0", pad) + string(out)
	}
	return string(out)
}
