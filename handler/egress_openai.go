package handler

import (
	"bytes"
	"net/http"
	"net/url"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// openAIEgress sends OpenAI chat completions to openai_upstream and passes
// answers through unchanged, keeping a copy to store.
type openAIEgress struct {
	h    *Handler
	oreq *translate.OpenAIRequest
}

func (openAIEgress) clientFlavor() flavor { return openAIFlavor }

func (e openAIEgress) upstream() (*url.URL, bool) { return e.h.cfg.OpenAIUpstream, true }

func (e openAIEgress) upstreamBody(messages translate.Body) (translate.Body, error) {
	out, err := e.oreq.ToOpenAI(messages.Bytes())
	if out == nil {
		out = []byte{} // never nil: a nil body would forward the client's
	}
	return translate.BodyOf(out), err
}

func (e openAIEgress) relayError(w http.ResponseWriter, resp *http.Response) { e.h.relayAsIs(w, resp) }

// stream relays the chunks as they arrive while accumulating the reply;
// final runs before the [DONE] that ends a complete answer.
func (e openAIEgress) stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	rc := startStream(w, resp)
	var acc translate.OpenAIAccumulator
	events := e.h.events.Get(resp.Body)
	defer e.h.events.Put(events)
	for {
		ev, err := events.Next()
		if err != nil {
			break
		}
		isDone := bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]"))
		if !isDone {
			acc.Add(ev.Data)
		} else if acc.Done() && final != nil {
			final()
			final = nil
		}
		if _, werr := w.Write(ev.Raw); werr != nil {
			return nil
		}
		if !ev.More { // else the next chunk has arrived: one write for both
			_ = rc.Flush()
		}
	}
	if !acc.Done() {
		return nil
	}
	return acc.Response()
}

// json relays a non-streamed chat completion as it is.
func (e openAIEgress) json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	body, err := readAnswer(resp)
	return e.h.answerJSON(w, resp, body, err, final, chatCompletionAnswer)
}

// chatCompletionAnswer is a chat completion relayed as the upstream sent it.
var chatCompletionAnswer = answerShape{flavor: openAIFlavor, parse: translate.ParseOpenAIResponse}
