package handler

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/session"
	"github.com/caddy-lore/caddy-lore/store"
)

// commitTimeout bounds the write after a turn; the client has its answer by
// then, so a slow Redis only delays this goroutine.
const commitTimeout = 3 * time.Second

// identify finds or creates the session of a turn inside the caller's
// namespace (their identity's, else their credential's). It returns nil when
// Redis is unavailable, or the request has neither identity nor credential:
// the turn is then proxied without state.
func (h *Handler) identify(ctx context.Context, hdr http.Header, req *translate.Request, msgs []msg.Message, cred auth.Credential) *store.Session {
	st := h.cfg.Store
	if st == nil || !st.Available() {
		return nil
	}
	ns, ok := h.namespace(ctx, cred)
	if !ok {
		return nil
	}
	clientID, source := session.ClientID(req.MetadataUserID, hdr)
	first := firstUserText(msgs)
	lineage := session.Lineage(ns, req.Model, source, clientID, first)
	h.pending.wait(ctx, lineage, commitTimeout)
	// Without identity a refreshed token lands in a new namespace; the
	// origin (the lineage without namespace) is where it can find the
	// session it continues by proof of history (continuity.go).
	origin := ""
	if clientID != "" && identityOf(ctx) == "" {
		origin = session.Lineage("", req.Model, source, clientID, first)
	}

	candidates, err := st.Candidates(ctx, lineage)
	if err != nil {
		return nil
	}
	if id, ok := session.Choose(candidates, len(msgs)); ok {
		sess, err := st.LoadSession(ctx, id)
		if err != nil {
			return nil
		}
		// The lineage already includes the namespace; checking it again
		// makes isolation independent of how lineages are built.
		if sess != nil && sess.Namespace == ns {
			if sess.Project == "" {
				sess.Project = h.projectOf(req) // sessions stored before knowledge was on
			}
			if sess.Origin == "" {
				sess.Origin = origin // sessions stored before continuity existed
			}
			if sess.Person == "" {
				sess.Person = h.personOf(ctx, cred) // sessions stored before usage existed
			}
			return sess
		}
	}
	now := h.now()
	sess := &store.Session{
		ID:          session.NewID(now),
		Namespace:   ns,
		Fingerprint: h.cfg.Keys.Fingerprint(cred),
		Person:      h.personOf(ctx, cred),
		Lineage:     lineage,
		Origin:      origin,
		Model:       req.Model,
		Project:     h.projectOf(req),
		CreatedAt:   now,
	}
	if origin != "" && len(candidates) == 0 {
		if prev := h.provenSession(ctx, origin, ns, msgs); prev != nil {
			continueFrom(sess, prev)
		}
	}
	return sess
}

// commit stores an answered turn: the request messages the session has not
// stored yet, the assistant reply, the session state and the caller's
// credential (encrypted, bound to the session id), in one round trip.
// fig is what the turn adds to its person's usage (usage.Turn): its cost and
// counterfactual cost in micro-dollars (turnCost) are also added to the
// session's sums, in the same round trip as everything else.
// It returns the number of messages the session has stored after the turn.
func (h *Handler) commit(ctx context.Context, sess *store.Session, model string, msgs []msg.Message, reply *translate.Response, cred auth.Credential, st *gradient.State, fig store.UsageFigures) int {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	now := h.now()
	if sess.ContinuedFrom != "" {
		// The upstream accepted the new credential: only now does the
		// continued history get a copy in its namespace.
		if err := h.cfg.Store.CopyHistory(ctx, sess.ContinuedFrom, sess.ID, h.cfg.Retention); err != nil {
			h.log.Warn("continued session not stored: its history could not be copied", zap.String("session", sess.ID), zap.Error(err))
			return 0
		}
		h.log.Info("session continued by proof of history under a new credential",
			zap.String("session", sess.ID), zap.String("from", sess.ContinuedFrom), zap.String("credential", h.cfg.Keys.Fingerprint(cred)))
	}

	start := sess.Stored
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
	usage := reply.Usage
	if !translate.EmptyContent(reply.Content) {
		pos := len(msgs)
		stored = append(stored, store.StoredMessage{
			ID: msg.ComputeID(msg.RoleAssistant, pos, reply.Content), Role: msg.RoleAssistant,
			Position: pos, Content: reply.Content, At: now.UnixMilli(), Model: reply.Model, Usage: &usage,
		})
	}

	next := *sess
	if enc, err := json.Marshal(st); err == nil {
		next.Gradient = enc
	}
	next.Model = model
	next.LastRequest = now
	next.MessageCount = len(msgs)
	next.Stored = len(msgs) + 1
	next.Turns++
	next.Usage.InputTokens += usage.InputTokens
	next.Usage.OutputTokens += usage.OutputTokens
	next.Usage.CacheReadTokens += usage.CacheReadTokens
	next.Usage.CacheWriteTokens += usage.CacheWriteTokens
	next.CostMicroUSD += fig.CostMicroUSD
	next.CounterfactualMicroUSD += fig.CounterfactualMicroUSD

	// Without identity a session lives under its credential's namespace, so
	// its stored credential is this very one: sealed once, when the session
	// is created (its TTL is refreshed with the other keys). With identity
	// (or a session continued by proof of history) the person may come back
	// with a refreshed token or a rotated key: a credential other than the
	// stored one (by fingerprint) is sealed in its place, so background work
	// uses the newest (SPEC §3).
	var blob []byte
	fp := h.cfg.Keys.Fingerprint(cred)
	if !cred.IsZero() && (sess.Turns == 0 || sess.Fingerprint != fp) {
		var err error
		if blob, err = h.cfg.Keys.Seal(cred, sess.ID); err != nil {
			h.log.Error("sealing credential failed; turn stored without it", zap.String("session", sess.ID), zap.Error(err))
			blob = nil
		} else {
			next.Fingerprint = fp
		}
	}
	rec := &store.UsageRecord{At: now, Person: next.Person, Model: model, Figures: fig}
	err := h.cfg.Store.CommitTurn(ctx, store.Turn{Session: &next, Messages: stored, Credential: blob, Retention: h.cfg.Retention, Usage: rec})
	if err != nil {
		h.log.Debug("turn not stored", zap.String("session", sess.ID), zap.Error(err))
		return 0
	}
	h.log.Debug("turn stored",
		zap.String("session", sess.ID),
		zap.String("credential", sess.Fingerprint),
		zap.Int("messages", len(msgs)),
		zap.Int("stored", len(stored)),
		zap.Int64("input_tokens", usage.InputTokens),
		zap.Int64("output_tokens", usage.OutputTokens))
	return next.Stored
}
