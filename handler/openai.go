package handler

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/msg"
)

// serveChat handles POST /v1/chat/completions: the OpenAI request is
// translated into the internal (Messages) form and runs through the same
// pipeline as an Anthropic turn. Claude models go to the Anthropic upstream
// and their answers are translated back, streaming chunk by chunk; other
// models go to openai_upstream in OpenAI format and their answers pass
// through unchanged.
func (h *Handler) serveChat(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r, openAIFlavor, translate.RefusedOpenAIPrefix)
	if !ok {
		return
	}
	oreq, err := translate.ParseOpenAIRequest(body)
	var reqErr *translate.RequestError
	var refused *translate.BodyError
	switch {
	case errors.As(err, &refused):
		writeError(w, openAIFlavor, http.StatusBadRequest, refused.Message)
		return
	case errors.Is(err, translate.ErrInvalidJSON):
		writeError(w, openAIFlavor, http.StatusBadRequest, invalidJSONMessage)
		return
	case errors.As(err, &reqErr):
		writeError(w, openAIFlavor, http.StatusBadRequest, reqErr.Error())
		return
	case err != nil:
		writeError(w, openAIFlavor, http.StatusBadRequest, "the request could not be read as a chat completion")
		return
	}
	// A Claude model goes to the Anthropic upstream only with a credential
	// that belongs there (the passthrough rule): an OpenRouter-style client
	// asking for anthropic/claude-… with its own key is openai_upstream's.
	claude := isClaudeModel(oreq.Model) && auth.RouteOf(r.Header) == auth.ProviderAnthropic
	if claude {
		if err := oreq.ValidateForAnthropic(); err != nil {
			writeError(w, openAIFlavor, http.StatusBadRequest, err.Error())
			return
		}
	}
	internal, err := oreq.ToAnthropic()
	if err != nil {
		writeError(w, openAIFlavor, http.StatusBadRequest, err.Error())
		return
	}
	req, err := translate.ParseRequest(internal)
	if err != nil {
		writeError(w, openAIFlavor, http.StatusBadRequest, "the request could not be translated")
		return
	}
	msgs, err := msg.Decode(req.Messages)
	if err != nil {
		writeError(w, openAIFlavor, http.StatusBadRequest, "the messages could not be translated")
		return
	}
	cred := auth.Extract(r.Header)
	cred.Provider = auth.ProviderOpenAI // sealed with it: worker calls and batches go to openai_upstream too
	var eg egress = openAIEgress{h, oreq}
	if claude {
		cred.Provider = auth.ProviderAnthropic
		eg = claudeViaOpenAIEgress{h: h, oreq: oreq, created: h.now().Unix()}
	}
	if classify(req, req.SystemText(), msgs) == classUtility {
		// Small utility calls are not sessions: translate, forward, answer.
		h.seen(r, label.RouteChat, label.ClassUtility, layerNone)
		h.serveUtilityChat(w, r, req.Body, cred, eg)
		return
	}
	h.serveTurn(w, r, req, msgs, cred, eg)
}

// serveUtilityChat forwards an untransformed utility call in the egress's
// format and answers through it; nothing is stored.
func (h *Handler) serveUtilityChat(w http.ResponseWriter, r *http.Request, internal []byte, cred auth.Credential, eg egress) {
	t := &turn{h: h, w: w, r: r, cred: cred, egress: eg} // a turn with no session
	body, err := eg.upstreamBody(translate.BodyOf(internal))
	if err != nil {
		writeError(w, eg.clientFlavor(), http.StatusInternalServerError, "the gateway could not prepare this request")
		return
	}
	resp := t.call(body)
	if resp == nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	t.relay(resp)
}

// isClaudeModel decides the upstream of an OpenAI-format request.
func isClaudeModel(model string) bool {
	m := strings.ToLower(model)
	return strings.HasPrefix(m, "claude") || strings.HasPrefix(m, "anthropic/claude")
}
