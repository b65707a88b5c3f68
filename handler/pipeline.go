package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Distiller is the distillation engine as the turn pipeline sees it. A nil
// Distiller leaves history undistilled (the gradient then only trims).
type Distiller interface {
	// Rows returns the session's current (non-archived) distillations, oldest first.
	Rows(ctx context.Context, sessionID string) ([]gradient.Distillation, error)
	// AfterTurn schedules the post-response distillation without blocking:
	// urgent and forced when urgent is set (the turn needed layer ≥ 2), else
	// a background one when enough messages are undistilled.
	AfterTurn(ctx context.Context, sessionID string, urgent bool)
	// DistillNow runs a forced urgent distillation and returns when its
	// rows are stored (overflow recovery, compaction).
	DistillNow(ctx context.Context, sessionID string) error
	// Compact distils everything pending and writes a summary of the whole
	// session for a client's compaction request (urgent).
	Compact(ctx context.Context, sessionID, previousSummary string) (string, error)
}

// plan is one turn's transformed request.
type plan struct {
	state  gradient.State
	result gradient.Result
	body   translate.Body
	recall bool // the body offers the recall tool
}

// memory is what long-term memory adds to a turn's request (SPEC §8).
type memory struct {
	knowledge     string // the knowledge block for the system prompt
	offerRecall   bool   // add the recall tool (the Anthropic route, recall on)
	pendingRecall string // results of recall calls of the previous answer
}

// loadState decodes the session's gradient state and applies idle resume:
// a session whose last turn is older than idle_resume has a cold prompt
// cache, so its next window is compacted (SPEC §7).
func (h *Handler) loadState(sess *store.Session, now time.Time) gradient.State {
	var st gradient.State
	if sess == nil {
		return st
	}
	if len(sess.Gradient) > 0 {
		if err := json.Unmarshal(sess.Gradient, &st); err != nil {
			h.log.Warn("session gradient state unreadable; starting afresh", zap.String("session", sess.ID), zap.Error(err))
			st = gradient.State{}
		}
	}
	if h.cfg.IdleResume > 0 && !sess.LastRequest.IsZero() && st.TransformCount > 0 &&
		now.Sub(sess.LastRequest) > h.cfg.IdleResume {
		st.IdleReset()
	}
	return st
}

// rows loads the session's distillations; none without a distiller or state.
func (h *Handler) rows(ctx context.Context, sess *store.Session) []gradient.Distillation {
	if h.cfg.Distiller == nil || sess == nil {
		return nil
	}
	id := sess.ID
	if sess.ContinuedFrom != "" {
		// The first turn of a continued session: its copy of the rows is
		// made only once the upstream accepted the turn (commit).
		id = sess.ContinuedFrom
	}
	rows, err := h.cfg.Distiller.Rows(ctx, id)
	if err != nil {
		h.log.Debug("distillations unavailable for this turn", zap.String("session", sess.ID), zap.Error(err))
		return nil
	}
	return rows
}

// transform runs the gradient and builds the upstream body: the client's
// body with only `messages` and `system` replaced, every other field (known
// or not) forwarded byte for byte.
//
// The long-term memory additions (SPEC §8) go in here too: the knowledge
// block after the client's system prompt, the recall tool after its tools,
// and recall results kept from the previous answer at the end of the last
// user message.
func (h *Handler) transform(st gradient.State, limits gradient.Limits, req *translate.Request, msgs []msg.Message, rows []gradient.Distillation, mem memory) (*plan, error) {
	p := &plan{state: st}
	p.result = gradient.Transform(&p.state, gradient.Input{Model: req.Model, Limits: limits, Messages: msgs, Distillations: rows,
		LTMTokens: knowledge.Tokens(mem.knowledge)})
	p.result.Messages = withPendingRecall(p.result.Messages, mem.pendingRecall)

	fixed := gradient.CountCacheControl(req.Tools)
	if req.TopCacheControl {
		fixed++
	}
	system := req.System
	if mem.knowledge != "" {
		system = appendSystemBlock(system, mem.knowledge)
	}
	system, out := gradient.ApplyCacheBreakpoints(system, p.result.Messages, fixed)
	elements, err := messageElements(out)
	if err != nil {
		return nil, err
	}
	fields := map[string][]byte{}
	if len(bytes.TrimSpace(system)) > 0 && !bytes.Equal(system, req.System) {
		fields["system"] = system
	}
	if mem.offerRecall && recallAllowed(req.ToolChoice) {
		if tools, ok := withRecallTool(req.Tools); ok {
			fields["tools"], p.recall = tools, true
		}
	}
	p.body, err = req.Rebuild(elements, fields)
	return p, err
}

// messageElements returns each message's JSON for the upstream body: the
// client's own bytes for an unchanged message (not copied: the rebuilt body
// refers to them), a new encoding for a changed one.
func messageElements(msgs []msg.Message) ([][]byte, error) {
	out := make([][]byte, len(msgs))
	for i := range msgs {
		var err error
		if out[i], err = msg.JSON(&msgs[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isOverflow reports whether an upstream answer says the prompt did not fit
// the context window (SPEC §4.6): Anthropic's 400 "prompt is too long", or an
// OpenAI-compatible upstream's context_length_exceeded.
func isOverflow(status int, body []byte) bool {
	return status == http.StatusBadRequest &&
		(bytes.Contains(body, []byte("prompt is too long")) || bytes.Contains(body, []byte("context_length_exceeded")))
}

// overflowCountRE finds the upstream's own token count in an overflow
// answer: Anthropic's "prompt is too long: N tokens > M maximum", OpenAI's
// "... your messages resulted in N tokens".
var overflowCountRE = regexp.MustCompile(`(?:prompt is too long: |resulted in )(\d+) tokens`)

// upstreamCount is the token count an overflow answer gives, or 0.
func upstreamCount(body []byte) int {
	m := overflowCountRE.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// stoppedForWindow reports a 2xx answer that ended because the context window
// was exhausted (stop_reason model_context_window_exceeded).
func stoppedForWindow(reply *translate.Response) bool {
	return reply != nil && reply.StopReason == "model_context_window_exceeded"
}
