package handler

import (
	"context"
	"net/http"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/session"
	"github.com/caddy-lore/caddy-lore/store"
)

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
