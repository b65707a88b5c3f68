package handler

import (
	"context"
	"net/http"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/session"
	"github.com/caddy-lore/caddy-lore/store"
)

// identify finds or creates the session of a turn inside the caller's
// namespace (their identity's, else their credential's). It returns nil when
// Redis is unavailable, or the request has neither identity nor credential:
// the turn is then proxied without state.
//
// Reading the lineage and the session it continues is one round trip when
// this instance served the conversation's previous turn (the hint): the
// session's state and its distillations come in the same pipeline, and the
// distillations are returned with it for plan.
func (h *Handler) identify(ctx context.Context, hdr http.Header, req *translate.Request, msgs []msg.Message, cred auth.Credential) (*store.Session, prefetched) {
	st := h.cfg.Store
	if st == nil || !st.Available() {
		return nil, prefetched{}
	}
	ns, ok := h.namespace(ctx, cred)
	if !ok {
		return nil, prefetched{}
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

	hint := h.hints.get(lineage)
	load, err := st.LoadTurn(ctx, lineage, origin, hint)
	if err != nil {
		return nil, prefetched{}
	}
	var hintedRows []distill.Row
	if load.Hinted != nil {
		// The rows come raw in the turn's round trip; a row that does not
		// decode fails the read like a LoadTurn error.
		if hintedRows, err = distill.DecodeRows(hint, load.HintedRows, false); err != nil {
			return nil, prefetched{}
		}
	}
	candidates := load.Candidates
	if id, ok := session.Choose(candidates, len(msgs)); ok {
		sess, pre := load.Hinted, prefetched{rows: hintedRows, read: true}
		if id != hint || sess == nil {
			if sess, err = st.LoadSession(ctx, id); err != nil {
				return nil, prefetched{}
			}
			pre = prefetched{} // not read: plan reads them
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
				sess.Person = personOf(ctx, h.cfg.Keys.Fingerprint(cred)) // sessions stored before usage existed
			}
			return sess, pre
		}
	}
	now := h.now()
	fp := h.cfg.Keys.Fingerprint(cred)
	sess := &store.Session{
		ID:          session.NewID(now),
		Namespace:   ns,
		Fingerprint: fp,
		Person:      personOf(ctx, fp),
		Lineage:     lineage,
		Origin:      origin,
		Model:       req.Model,
		Project:     h.projectOf(req),
		CreatedAt:   now,
	}
	if origin != "" && len(candidates) == 0 {
		if prev := h.provenSession(ctx, load.Origins, ns, msgs); prev != nil {
			continueFrom(sess, prev)
			return sess, prefetched{} // plan reads the rows it continues
		}
	}
	return sess, prefetched{read: true} // a new session has no distillations
}

// prefetched is what identify read for plan in its round trip: the chosen
// session's live distillations, when read says they were read.
type prefetched struct {
	rows []distill.Row
	read bool
}
