package handler

import (
	"net/http"
	"net/url"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// anthropicEgress sends Messages to the Anthropic upstream and relays its
// answers unchanged.
type anthropicEgress struct{ h *Handler }

func (anthropicEgress) clientFlavor() flavor { return anthropicFlavor }

func (e anthropicEgress) upstream() (*url.URL, bool) { return e.h.cfg.Upstream, false }

func (anthropicEgress) upstreamBody(messages translate.Body) (translate.Body, error) {
	return messages, nil
}

func (e anthropicEgress) relayError(w http.ResponseWriter, resp *http.Response) {
	e.h.relayAsIs(w, resp)
}

// stream forwards an SSE answer event by event as it arrives, while
// accumulating the assistant message.
func (e anthropicEgress) stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	rc := startStream(w, resp)
	return eachEvent(&e.h.events, resp, rc, final, func(ev translate.Event) error {
		_, err := w.Write(ev.Raw)
		return err
	})
}

// json relays a non-streamed Messages answer as it is.
func (e anthropicEgress) json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	body, err := readAnswer(resp)
	return e.h.answerJSON(w, resp, body, err, final, messagesAnswer)
}

// messagesAnswer is a Messages answer relayed as the upstream sent it.
var messagesAnswer = answerShape{flavor: anthropicFlavor, parse: translate.ParseResponse}
