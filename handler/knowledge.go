package handler

import (
	"context"
	"encoding/json"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Knowledge is long-term memory as the turn pipeline sees it
// (docs/knowledge-and-recall.md, Long-term knowledge), *knowledge.Curator. A
// nil Knowledge injects nothing and curates nothing.
type Knowledge interface {
	// Block returns the session's knowledge block for its system prompt
	// within budget tokens; see knowledge.Curator.Block.
	Block(ctx context.Context, sess *store.Session, budget int, matchText func() string, fresh bool) (string, error)
	// AfterTurn curates the session's knowledge when it is due (every
	// knowledge.AfterTurns turns); see knowledge.Curator.AfterTurn.
	AfterTurn(ctx context.Context, sessionID string, turnsSinceCuration int) error
}

// matchedMessages is how many of the newest messages the knowledge selection
// matches entries against (docs/knowledge-and-recall.md, Long-term knowledge:
// Injection).
const matchedMessages = 10

// knowledgeBlock returns the turn's knowledge block; "" without knowledge,
// state, or on any error (a turn never fails for want of knowledge). It is
// rebuilt when the session comes back from idle (its cache is cold).
func (h *Handler) knowledgeBlock(ctx context.Context, sess *store.Session, st *gradient.State, limits gradient.Limits, msgs []msg.Message, rows []gradient.Distillation) string {
	if h.cfg.Knowledge == nil || sess == nil {
		return ""
	}
	text, err := h.cfg.Knowledge.Block(ctx, sess, gradient.LTMBudget(st, limits), func() string { return matchText(msgs, rows) }, st.PostIdleCompact)
	if err != nil {
		h.log.Debug("knowledge unavailable for this turn", zap.String("session", sess.ID), zap.Error(err))
		return ""
	}
	return text
}

// matchText is the latest distillation and the newest messages' text.
func matchText(msgs []msg.Message, rows []gradient.Distillation) string {
	var b strings.Builder
	if len(rows) > 0 {
		b.WriteString(rows[len(rows)-1].Observations)
	}
	for i := max(0, len(msgs)-matchedMessages); i < len(msgs); i++ {
		b.WriteByte('\n')
		b.WriteString(msgs[i].Text())
	}
	return b.String()
}

// projectOf names the session's project for its knowledge, "" when
// knowledge is off.
func (h *Handler) projectOf(req *translate.Request) string {
	if h.cfg.Knowledge == nil {
		return ""
	}
	return knowledge.ProjectOf(req.SystemText())
}

// appendSystemBlock adds a text block after the client's system prompt
// (a string, blocks, or none), leaving the client's bytes as they are so
// their cache markers still hold.
func appendSystemBlock(system []byte, text string) []byte {
	quoted, _ := json.Marshal(text) // a string always marshals
	block := append(append([]byte(`{"type":"text","text":`), quoted...), '}')
	s := strings.TrimSpace(string(system))
	switch {
	case s == "" || s == "null":
		return append(append([]byte{'['}, block...), ']')
	case s[0] == '"':
		out := append([]byte(`[{"type":"text","text":`), s...)
		out = append(append(out, "},"...), block...)
		return append(out, ']')
	case s[0] == '[' && s[len(s)-1] == ']':
		inner := strings.TrimSpace(s[1 : len(s)-1])
		out := []byte(s[:len(s)-1])
		if inner != "" {
			out = append(out, ',')
		}
		out = append(out, block...)
		return append(out, ']')
	}
	return system // malformed: the upstream will say so
}
