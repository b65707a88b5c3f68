package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// Distiller is the distillation engine as the turn pipeline uses it
// (*distill.Distiller). A nil Distiller leaves history undistilled (the
// gradient then only trims).
type Distiller interface {
	// Rows returns the session's current (non-archived) distillations, oldest first.
	Rows(ctx context.Context, sessionID string) ([]gradient.Distillation, error)
	// AfterTurn distils what a turn at layer leaves due: from urgentLayer
	// on, urgent and forced, returning once its rows are stored; below it,
	// a background distillation when enough messages are undistilled.
	AfterTurn(ctx context.Context, sessionID string, layer int) (distill.Result, error)
	// Compact distils everything pending and writes a summary of the whole
	// session for a client's compaction request (urgent); model "" is the
	// worker's.
	Compact(ctx context.Context, sessionID, previousSummary, model string) (string, error)
}

// plan is one turn's transformed request.
type plan struct {
	state  gradient.State
	result gradient.Result
	body   translate.Body
	recall bool // the body offers the recall tool
}

// memory is what long-term memory adds to a turn's request
// (docs/knowledge-and-recall.md).
type memory struct {
	knowledge     string // the knowledge block for the system prompt
	offerRecall   bool   // add the recall tool (the Anthropic route, recall on)
	pendingRecall string // results of recall calls of the previous answer
}

// plan fits the turn into the window, starting from the session's state:
// the gradient, the long-term memory additions, the egress's body. On an
// internal failure the client is answered and plan returns false.
func (t *turn) plan(st gradient.State) bool {
	h, ctx, sess := t.h, t.r.Context(), t.sess
	rows := t.rows()
	limits := gradient.LimitsFor(t.req.Model, gradient.HasBeta1M(t.r.Header.Values("Anthropic-Beta")...))
	_, anthropic := t.egress.(anthropicEgress) // recall is offered on the Anthropic route only
	mem := memory{knowledge: h.knowledgeBlock(ctx, sess, &st, limits, t.msgs, rows),
		offerRecall: h.cfg.Recall != nil && sess != nil && anthropic}
	if sess != nil && h.cfg.Recall != nil {
		mem.pendingRecall = sess.RecallPending
	}
	p, err := h.transform(st, limits, t.req, t.msgs, rows, mem)
	if err == nil {
		p.body, err = t.egress.upstreamBody(p.body)
	}
	if err != nil {
		h.log.Error("transforming the turn failed", zap.Error(err))
		writeError(t.w, t.egress.clientFlavor(), http.StatusInternalServerError, "the gateway could not prepare this request")
		return false
	}
	t.planned = p
	return true
}

// replan is the overflow recovery: distil what is pending now, then force
// the layer above the one that did not fit.
func (t *turn) replan() bool {
	h, sess, prev := t.h, t.sess, t.planned
	if h.cfg.Distiller != nil && sess != nil {
		if err := h.distillNow(t.r.Context(), sess.ID); err != nil {
			h.log.Info("urgent distillation before the overflow retry failed", zap.String("session", sess.ID), zap.Error(err))
		}
	}
	st := prev.state
	st.ForceNextLayer()
	h.log.Debug("overflow retry planned", zap.Int("failed_layer", prev.result.Layer), zap.Int("forced_layer", st.ForceMinLayer))
	return t.plan(st)
}

// loadState decodes the session's gradient state and applies idle resume: a
// session whose last turn is older than idle_resume has a cold prompt cache,
// so its next window is compacted (docs/context-window.md, Idle work and
// post-idle compaction).
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

// rows are the session's distillations: those identify read with the
// session (only the first plan of a turn: an overflow retry distils first),
// else read now; none without a distiller or state.
func (t *turn) rows() []gradient.Distillation {
	h, ctx, sess := t.h, t.r.Context(), t.sess
	if h.cfg.Distiller == nil || sess == nil {
		return nil
	}
	if pre := t.prefetched; pre.read {
		t.prefetched = prefetched{}
		return distill.ForGradient(pre.rows)
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
// The long-term memory additions (docs/knowledge-and-recall.md) go in here
// too: the knowledge block after the client's system prompt, the recall tool
// after its tools, and recall results kept from the previous answer at the end
// of the last user message.
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
