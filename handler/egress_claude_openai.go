package handler

import (
	"io"
	"net/http"
	"net/url"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// claudeViaOpenAIEgress is an OpenAI client's Claude turn: Messages go to
// the Anthropic upstream, answers and errors are translated back to
// OpenAI's format, streaming chunk by chunk.
type claudeViaOpenAIEgress struct {
	h       *Handler
	oreq    *translate.OpenAIRequest
	created int64 // the completion's "created", the same in every chunk
}

func (claudeViaOpenAIEgress) clientFlavor() flavor { return openAIFlavor }

func (e claudeViaOpenAIEgress) upstream() (*url.URL, bool) { return e.h.cfg.Upstream, false }

func (claudeViaOpenAIEgress) upstreamBody(messages translate.Body) (translate.Body, error) {
	return messages, nil
}

func (claudeViaOpenAIEgress) relayError(w http.ResponseWriter, resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
	copyResponseHeaders(w.Header(), resp.Header)
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(translate.AnthropicErrorToOpenAI(body))
}

func (e claudeViaOpenAIEgress) stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	resp.Header.Set("Content-Type", "text/event-stream")
	rc := startStream(w, resp)
	tr := translate.NewStreamTranslator(w, e.oreq.Model, e.created, e.oreq.IncludeUsage)
	reply := eachEvent(&e.h.events, resp, rc, final, tr.Event)
	_ = tr.Close()
	_ = rc.Flush()
	return reply
}

func (e claudeViaOpenAIEgress) json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	body, err := readAnswer(resp)
	return e.h.answerJSON(w, resp, body, err, final, answerShape{
		flavor: openAIFlavor,
		parse:  translate.ParseResponse,
		render: func(body []byte) ([]byte, error) { return translate.AnthropicToOpenAI(body, e.created) },
	})
}
