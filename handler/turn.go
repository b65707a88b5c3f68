package handler

import (
	"net/http"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
)

// turn is one conversation turn being served: what the client sent and
// with which credential, the session it continues, the body planned for
// the upstream and the egress it leaves and comes back through. It lives
// for one request (and its commit, which runs after the answer).
type turn struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	req    *translate.Request
	msgs   []msg.Message
	cred   auth.Credential
	egress egress

	sess       *store.Session // nil: proxied without state
	prefetched prefetched     // what identify read for plan
	planned    *plan
	retried    bool          // the first attempt overflowed the window
	recall     *recallEgress // the egress, when the body offered the recall tool
	done       chan struct{} // the pending commit, announced as the answer ends
}

// serveTurn runs a conversation turn: identify the session, fit the history
// into the window (the gradient), send it, relay the upstream's answer to
// the client as it arrives, and store the turn once the upstream has
// accepted the credential (2xx) and the answer is complete.
func (h *Handler) serveTurn(w http.ResponseWriter, r *http.Request, req *translate.Request, msgs []msg.Message, cred auth.Credential, eg egress) {
	t := &turn{h: h, w: w, r: r, req: req, msgs: msgs, cred: cred, egress: eg}
	t.sess, t.prefetched = h.identify(r.Context(), r.Header, req, msgs, cred)
	if !t.plan(h.loadState(t.sess, h.now())) {
		return
	}
	t.announce()
	resp := t.send()
	if resp == nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	t.store(t.relay(resp))
}

// announce publishes the planned turn to placeholders and metrics.
func (t *turn) announce() {
	if t.sess != nil {
		publish(t.r, phSession, t.sess.ID)
	}
	t.h.seen(t.r, routeOf(t.egress), label.ClassTurn, t.planned.result.Layer)
	t.h.obs.TokensRemoved(t.planned.result.TokensRemoved)
}

// relay answers the client with the upstream's answer and returns the reply
// to store, nil when there is none. Errors reach the client unchanged.
// A body that offered the recall tool is answered through recallEgress,
// around the Anthropic egress: the common Claude Code turn. Without a
// session (a utility call) no commit is announced; without a plan the
// recall egress is never used.
func (t *turn) relay(resp *http.Response) *translate.Response {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.egress.relayError(t.w, resp)
		return nil
	}
	var final func()
	if t.sess != nil {
		final = func() { t.done = t.h.pending.begin(t.sess.Lineage) }
	}
	if anthropic, ok := t.egress.(anthropicEgress); ok && t.planned != nil && t.planned.recall {
		t.recall = &recallEgress{anthropicEgress: anthropic, r: t.r, sess: t.sess, cred: t.cred, body: t.planned.body}
		t.egress = t.recall
	}
	if isEventStream(resp.Header) {
		return t.egress.stream(t.w, resp, final)
	}
	return t.egress.json(t.w, resp, final)
}
