package handler

import (
	"net/http"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/metrics/label"
)

// serveMessages handles POST /v1/messages.
func (h *Handler) serveMessages(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r, anthropicFlavor, refusedMessagesPrefix)
	if !ok {
		return
	}
	cred := auth.Extract(r.Header)
	// Messages that do not decode are the upstream's to reject, in its own
	// words: forward them untouched and store nothing.
	req, msgs, decodeErr, err := h.parseMessages(body, cred)
	if err != nil {
		writeBodyError(w, anthropicFlavor, err)
		return
	}
	system := req.SystemText()
	switch c := classify(req, system, msgs); {
	case decodeErr != nil || c == classUtility:
		h.seen(r, label.RouteMessages, label.ClassUtility, layerNone)
		h.forwardUnchanged(w, r, body, cred)
	case c == classCompaction:
		h.seen(r, label.RouteMessages, label.ClassCompaction, layerNone)
		h.serveCompaction(w, r, req, msgs, cred)
	default:
		h.serveTurn(w, r, req, msgs, cred, anthropicEgress{h})
	}
}

// forwardUnchanged sends a Messages request upstream byte for byte with the
// caller's credential and relays the answer; nothing is stored.
func (h *Handler) forwardUnchanged(w http.ResponseWriter, r *http.Request, body []byte, cred auth.Credential) {
	req, err := newUpstreamRequest(r.Context(), r, h.cfg.Upstream, translate.BodyOf(body), cred, anthropicFlavor)
	if err != nil {
		writeError(w, anthropicFlavor, http.StatusBadRequest, "the request could not be forwarded")
		return
	}
	resp := h.roundTrip(w, req, anthropicFlavor)
	if resp == nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	h.relayAsIs(w, resp)
}
