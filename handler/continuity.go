package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Continuity by proof of history (docs/sessions-and-identity.md). Without
// `identity`, a session lives under its credential's namespace, so a refreshed
// OAuth token or a rotated key starts over: no distillations, and past the
// window an urgent distillation of everything or a layer-4 cut. A request that
// carries every message a session under another credential stored — same ids
// (a hash of role, position and content bytes), same order — already holds
// everything that session's state was derived from, so handing it that state
// reveals nothing new. It continues the session's context in its own
// namespace: distillations (archived included), gradient state and
// calibration, watermarks. Not the credential, the knowledge block (knowledge
// follows a person across tokens only with identity), pending recall results
// or costs.

// maxProofCandidates bounds the sessions whose history one request is
// checked against (each check reads that session's stored messages).
const maxProofCandidates = 3

// provenSession returns the session among counts (its origin's, read by
// identify with the lineage), under another namespace than
// ns, whose whole stored history msgs carries; nil when there is none.
func (h *Handler) provenSession(ctx context.Context, counts map[string]int, ns string, msgs []msg.Message) *store.Session {
	st := h.cfg.Store
	if len(counts) == 0 {
		return nil
	}
	// Longest history first: the session the request most likely continues.
	ids := make([]string, 0, len(counts))
	for id, n := range counts {
		if n <= len(msgs) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if counts[ids[i]] != counts[ids[j]] {
			return counts[ids[i]] > counts[ids[j]]
		}
		return ids[i] < ids[j]
	})
	for _, id := range ids[:min(len(ids), maxProofCandidates)] {
		prev, err := st.LoadSession(ctx, id)
		if err != nil || prev == nil || prev.Namespace == ns || prev.Stored > len(msgs)+1 {
			continue
		}
		stored, err := st.Messages(ctx, id, 0, -1)
		if err != nil {
			continue
		}
		if at := firstMismatch(stored, msgs); at >= 0 {
			h.log.Debug("request does not carry the history of the session with its client session id",
				zap.String("session", id), zap.Int("stored", len(stored)), zap.Int("mismatch_at", at))
			continue
		}
		h.log.Debug("request proves the history of a session under another credential",
			zap.String("from", id), zap.Int("messages", len(stored)))
		return prev
	}
	return nil
}

// proves reports whether msgs carries every stored message at its position,
// in order, with the same role and the same content: byte for byte (the ids
// hash role, position and content), or else the same JSON value
// (sameJSONValue). Byte equality alone never holds for a real client: the
// stored replies are the gateway's own encoding of the streamed answer
// (`{"text":…,"type":"text"}`, Claude Code resends `{"type":"text",…}`), and
// Claude Code sends its newest message as text blocks with a cache marker,
// then, on the next turns, the same text as a plain string.
func proves(stored []store.StoredMessage, msgs []msg.Message) bool {
	return firstMismatch(stored, msgs) < 0
}

// firstMismatch is the index of the first stored message msgs does not
// carry (0 for no stored messages at all), -1 when it carries them all.
func firstMismatch(stored []store.StoredMessage, msgs []msg.Message) int {
	if len(stored) == 0 {
		return 0
	}
	prev := -1
	for i := range stored {
		m := &stored[i]
		if m.Position <= prev || m.Position >= len(msgs) {
			return i
		}
		prev = m.Position
		sent := &msgs[m.Position]
		if sent.Role != m.Role {
			return i
		}
		if sent.ID != m.ID && !sameJSONValue(sent.Content, m.Content) {
			return i
		}
	}
	return -1
}

// continueFrom makes the new session sess carry prev's context: its
// gradient state (layer, calibration, pins), its position in the history
// and its turn count; commit copies its messages, distillations and
// watermarks. The fingerprint is left empty so commit seals the new
// credential; knowledge block, pending recall and costs start empty.
func continueFrom(sess, prev *store.Session) {
	sess.ContinuedFrom = prev.ID
	sess.Gradient = prev.Gradient
	sess.LastRequest = prev.LastRequest
	sess.MessageCount = prev.MessageCount
	sess.Stored = prev.Stored
	sess.Turns = prev.Turns
	sess.Fingerprint = ""
}

// sameJSONValue reports whether two message contents are the same value
// once cache_control members are left out (clients move their cache
// breakpoints; message ids ignore them too) and a string content is read as
// the one text block it stands for: objects compare by members whatever
// their order, numbers by their text. Text is compared exactly.
func sameJSONValue(a, b []byte) bool {
	va, ok := decodeJSON(a)
	if !ok {
		return false
	}
	vb, ok := decodeJSON(b)
	return ok && reflect.DeepEqual(va, vb)
}

func decodeJSON(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	if s, ok := v.(string); ok {
		v = []any{map[string]any{"type": "text", "text": s}}
	}
	return withoutCacheControl(v), true
}

func withoutCacheControl(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "cache_control")
		for k, e := range x {
			x[k] = withoutCacheControl(e)
		}
	case []any:
		for i, e := range x {
			x[i] = withoutCacheControl(e)
		}
	}
	return v
}
