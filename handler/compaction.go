package handler

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
)

// previousSummaryRE finds an earlier summary the client asks to update.
var previousSummaryRE = regexp.MustCompile(`(?s)<previous-summary>\n?(.*?)\n?</previous-summary>`)

// serveCompaction answers a client's request to summarise the conversation
// (Claude Code's /compact, OpenCode's summary prompt) from the session's
// distillations with one urgent worker call, instead of sending the whole
// history upstream (docs/architecture.md, Compaction requests). Nothing is
// forwarded and nothing is stored. When there is no stored session to
// summarise, or the summary cannot be produced, the request goes upstream
// unchanged so the client still gets one.
func (h *Handler) serveCompaction(w http.ResponseWriter, r *http.Request, req *translate.Request, msgs []msg.Message, cred auth.Credential) {
	ctx := r.Context()
	sess, _ := h.identify(ctx, r.Header, req, msgs, cred)
	// A session continued by proof of history has no copy of its history
	// yet (and no credential): that is made by a stored turn, and a
	// compaction stores nothing. The client's own request goes upstream.
	if h.cfg.Distiller == nil || sess == nil || sess.Turns == 0 || sess.ContinuedFrom != "" {
		h.forwardUnchanged(w, r, req.Body, cred)
		return
	}
	previous := ""
	if m := previousSummaryRE.FindStringSubmatch(lastUserText(msgs)); m != nil {
		previous = m[1]
	}
	summary, err := h.cfg.Distiller.Compact(ctx, sess.ID, previous, "")
	if err != nil || summary == "" {
		h.log.Info("compaction summary unavailable; forwarding the request upstream",
			zap.String("session", sess.ID), zap.Error(err))
		h.forwardUnchanged(w, r, req.Body, cred)
		return
	}
	h.log.Debug("compaction answered from distillations", zap.String("session", sess.ID), zap.Int("chars", len(summary)))
	writeSynthetic(w, req.Model, summary, req.Stream)
}

// writeSynthetic answers with a locally made assistant message: JSON, or the
// standard six-event SSE sequence (docs/architecture.md, Compaction requests).
// Usage reports no input (nothing was sent upstream) and ceil(len/4) output
// tokens.
func writeSynthetic(w http.ResponseWriter, model, text string, stream bool) {
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	id := "msg_lore_compact_" + hex.EncodeToString(idb[:])
	outTokens := (len(text) + 3) / 4
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(marshalLiteral(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model,
			"content":     []any{map[string]any{"type": "text", "text": text}},
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 0, "output_tokens": outTokens},
		}))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	events := []struct {
		name string
		data map[string]any
	}{
		{"message_start", map[string]any{"type": "message_start", "message": map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
			"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 0, "output_tokens": 1}}}},
		{"content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""}}},
		{"content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": text}}},
		{"content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}},
		{"message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": outTokens}}},
		{"message_stop", map[string]any{"type": "message_stop"}},
	}
	rc := http.NewResponseController(w)
	for _, ev := range events {
		var b bytes.Buffer
		b.WriteString("event: " + ev.name + "\ndata: ")
		b.Write(marshalLiteral(ev.data))
		b.WriteString("\n\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

// marshalLiteral encodes v without HTML escaping, so "<", ">" and "&" in
// model text reach the client as themselves, as the API sends them.
func marshalLiteral(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}
