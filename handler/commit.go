package handler

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

// store books the answered turn (tokens, cost, the gradient's calibration)
// and stores it off the client's critical path: the client has its answer,
// and the next turn of this lineage waits for the commit in identify.
//
// The commit's goroutine holds a commitJob, never the turn: the turn keeps
// the request body alive (30 MB for a long session's first turn), and a
// commit can wait for Redis well after the response is done. The job holds
// the new messages until they are encoded, and then nothing of the body
// (docs/hostile-input.md: Memory under attack).
func (t *turn) store(reply *translate.Response) {
	h, sess := t.h, t.sess
	if t.done == nil {
		return // incomplete answer or no state: nothing to store
	}
	if reply == nil {
		h.pending.end(sess.Lineage, t.done)
		return
	}
	u, calib := t.recall.account(reply.Usage) // recall follow-ups: all rounds cost, the first one calibrates
	h.obs.Tokens(u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens)
	cost, without := turnCost(t.req.Model, u, t.planned.result.TokensRemoved, t.msgs, sess.MessageCount, sess.Turns)
	h.obs.Cost(cost, without)
	publishTurn(t.r, u, cost, without)
	gradient.Calibrate(&t.planned.state, int(calib.InputTokens+calib.CacheReadTokens+calib.CacheWriteTokens))
	urgent := t.planned.result.UrgentDistill || t.retried || stoppedForWindow(reply)
	job := t.commitJob(reply, usage.Turn(u, cost, without))
	done := t.done
	started := h.commits.Go("storing the turn", func(bg context.Context) {
		defer h.pending.end(sess.Lineage, done)
		stored, sinceCuration := job.run(bg)
		if h.cfg.Distiller != nil && (urgent || stored >= distillThreshold) {
			h.distillAfterTurn(sess.ID, urgent)
		}
		if h.cfg.Knowledge != nil && stored > 0 {
			h.curateAfterTurn(sess.ID, sinceCuration)
		}
	})
	if !started { // the handler is closed: nobody stores this turn
		h.pending.end(sess.Lineage, done)
	}
}

// distillThreshold: below this many stored messages no background distillation
// can be due (it starts at 30 undistilled messages: docs/context-window.md,
// Distillation), so the check is skipped.
const distillThreshold = 30

// commitTimeout bounds the write after a turn; the client has its answer by
// then, so a slow Redis only delays this goroutine. It is the commit's only
// bound: the commits' group context never ends while one runs (Close waits
// for them before it stops the group), so the commit's context is not made
// its child, which had every commit of a busy gateway register with, and
// contend for, that one parent (2% of the CPU at concurrency 64,
// docs/benchmarks.md).
const commitTimeout = 3 * time.Second

// commitJob is an answered turn as its commit needs it: the session, the
// messages it has not stored yet (pointing into the request body until
// run encodes them), the gradient state and the reply.
type commitJob struct {
	h        *Handler
	sess     *store.Session
	model    string
	cred     auth.Credential
	state    gradient.State
	messages int       // in the request
	at       time.Time // when the answer ended: the messages' and the session's time
	stored   []store.StoredMessage
	usage    pricing.Usage // the answer's, as the client was shown it
	fig      usage.Figures
	recall   pendingRecall
}

// commitJob builds the turn's commit job: the request messages the session
// has not stored yet and the assistant reply.
// fig is what the turn adds to its person's usage (usage.Turn): its cost and
// counterfactual cost in micro-dollars (turnCost) are also added to the
// session's sums, in the same round trip as everything else.
func (t *turn) commitJob(reply *translate.Response, fig usage.Figures) *commitJob {
	msgs, now := t.msgs, t.h.now()
	start := t.sess.Stored
	if start > len(msgs) || start < 0 {
		// The client rewound (edited or retried): store its newest message.
		start = max(len(msgs)-1, 0)
	}
	stored := make([]store.StoredMessage, 0, len(msgs)-start+1)
	for i := start; i < len(msgs); i++ {
		m := &msgs[i]
		if translate.EmptyContent(m.Content) {
			continue
		}
		stored = append(stored, store.StoredMessage{ID: m.ID, Role: m.Role, Position: i, Content: m.Content, At: now.UnixMilli()})
	}
	answered := reply.Usage
	if !translate.EmptyContent(reply.Content) {
		pos := len(msgs)
		stored = append(stored, store.StoredMessage{
			ID: msg.ComputeID(msg.RoleAssistant, pos, reply.Content), Role: msg.RoleAssistant,
			Position: pos, Content: reply.Content, At: now.UnixMilli(), Model: reply.Model, Usage: &answered,
		})
	}
	return &commitJob{
		h: t.h, sess: t.sess, model: t.req.Model, cred: t.cred, state: t.planned.state,
		messages: len(msgs), at: now, stored: stored, usage: answered, fig: fig, recall: t.recall.pendingRecall(),
	}
}

// run stores the turn: its new messages, the session state and the
// caller's credential (encrypted, bound to the session id), in one round
// trip. It returns the number of messages the session has stored after the
// turn (0: not stored) and its turns since the last curation, as the
// commit's own increment answered: read before the turn, the counter may
// predate a curation that reset it since.
func (j *commitJob) run(ctx context.Context) (int, int) {
	h, sess, cred := j.h, j.sess, j.cred
	sess.RecallPending = j.recall.text(ctx) // consumed by this turn; new ones for the next
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	now := j.at
	if sess.ContinuedFrom != "" {
		// The upstream accepted the new credential: only now does the
		// continued history get a copy in its namespace.
		if err := h.cfg.Store.CopyHistory(ctx, sess.ContinuedFrom, sess.ID, h.cfg.Retention); err != nil {
			h.log.Warn("continued session not stored: its history could not be copied", zap.String("session", sess.ID), zap.Error(err))
			return 0, 0
		}
		h.log.Info("session continued by proof of history under a new credential",
			zap.String("session", sess.ID), zap.String("from", sess.ContinuedFrom), zap.String("credential", h.cfg.Keys.Fingerprint(cred)))
	}

	next := *sess
	next.Gradient = j.state.AppendJSON(make([]byte, 0, 512))
	answered := j.usage
	next.Model = j.model
	next.LastRequest = now
	next.MessageCount = j.messages
	next.Stored = j.messages + 1
	next.Turns++
	next.Usage.InputTokens += answered.InputTokens
	next.Usage.OutputTokens += answered.OutputTokens
	next.Usage.CacheReadTokens += answered.CacheReadTokens
	next.Usage.CacheWriteTokens += answered.CacheWriteTokens
	next.CostMicroUSD += j.fig.CostMicroUSD
	next.CounterfactualMicroUSD += j.fig.CounterfactualMicroUSD

	// Without identity a session lives under its credential's namespace, so
	// its stored credential is this very one: sealed once, when the session is
	// created (its TTL is refreshed with the other keys). With identity (or a
	// session continued by proof of history) the person may come back with a
	// refreshed token or a rotated key: a credential other than the stored one
	// (by fingerprint) is sealed in its place, so background work uses the
	// newest (docs/sessions-and-identity.md, Identity).
	//
	// A session identify created has nothing stored yet (a continued one
	// has its predecessor's Turns, and CopyHistory writes no state hash);
	// its fingerprint is identify's, of this very credential.
	fresh := sess.Turns == 0
	var blob []byte
	fp := sess.Fingerprint
	if !fresh || fp == "" {
		fp = h.cfg.Keys.Fingerprint(cred)
	}
	if !cred.IsZero() && (fresh || sess.Fingerprint != fp) {
		var err error
		if blob, err = h.cfg.Keys.Seal(cred, sess.ID); err != nil {
			h.log.Error("sealing credential failed; turn stored without it", zap.String("session", sess.ID), zap.Error(err))
			blob = nil
		} else {
			next.Fingerprint = fp
		}
	}
	counted := usage.Queue(h.cfg.Store, usage.Record{At: now, Person: next.Person, Model: j.model, Figures: j.fig}, h.cfg.Retention)
	// The job lets go of its messages: CommitTurn encodes them first and
	// drops them too, so the body they point into is not kept while the
	// commit waits for its group and Redis.
	stored := j.stored
	j.stored = nil
	n := len(stored)
	err := h.cfg.Store.CommitTurn(ctx, store.Turn{Session: &next, New: fresh, Messages: stored, Credential: blob, Retention: h.cfg.Retention, Counters: []store.Increments{counted}})
	if err != nil {
		h.log.Debug("turn not stored", zap.String("session", sess.ID), zap.Error(err))
		return 0, 0
	}
	h.hints.put(next.Lineage, next.ID) // the next turn reads it with its lineage
	h.log.Debug("turn stored",
		zap.String("session", sess.ID),
		zap.String("credential", sess.Fingerprint),
		zap.Int("messages", j.messages),
		zap.Int("stored", n),
		zap.Int64("input_tokens", answered.InputTokens),
		zap.Int64("output_tokens", answered.OutputTokens))
	return next.Stored, next.TurnsSinceCuration
}

// stoppedForWindow reports a 2xx answer that ended because the context window
// was exhausted (stop_reason model_context_window_exceeded).
func stoppedForWindow(reply *translate.Response) bool {
	return reply != nil && reply.StopReason == "model_context_window_exceeded"
}
