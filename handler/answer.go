package handler

import (
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// maxResponseBody bounds how much of a non-streamed upstream answer is kept in
// memory to be stored; larger answers are still relayed in full (when relayed
// unchanged).
const maxResponseBody = 64 << 20

// answerShape is what a route does with a non-streamed answer: how it reads
// the reply to store, and what the client gets.
type answerShape struct {
	flavor flavor // the client's API, for the gateway's own errors
	// parse reads the reply to store from the upstream's answer.
	parse func(body []byte) (*translate.Response, error)
	// render is the client's answer; nil relays the upstream's bytes.
	render func(body []byte) ([]byte, error)
}

// readAnswer reads a non-streamed upstream answer whole, up to
// maxResponseBody. Reading first costs nothing (the client cannot use a
// partial JSON body) and lets final run before the client has the answer.
func readAnswer(resp *http.Response) ([]byte, error) {
	return io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
}

// answerJSON is the one way every route answers with a non-streamed answer
// it has read (body, readErr: readAnswer's results): parse, final, write.
// It returns the reply to store, nil when there is none: the answer could
// not be read (the client gets a 502 in its API's shape, never a truncated
// or empty 200), parsed, or is larger than what is kept (then the rest is
// relayed unchanged, or, when the answer is translated, a 502 replaces it).
func (h *Handler) answerJSON(w http.ResponseWriter, resp *http.Response, body []byte, readErr error, final func(), shape answerShape) *translate.Response {
	if readErr != nil {
		h.log.Info("the upstream answer could not be read; nothing stored", zap.Error(readErr))
		writeError(w, shape.flavor, http.StatusBadGateway, "the gateway could not read the upstream answer")
		return nil
	}
	whole := len(body) < maxResponseBody
	out := body
	copyResponseHeaders(w.Header(), resp.Header)
	if shape.render != nil {
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Type", "application/json")
		translated := whole // a truncated answer cannot be translated
		if translated {
			var err error
			out, err = shape.render(body)
			translated = err == nil
		}
		if !translated {
			writeError(w, shape.flavor, http.StatusBadGateway, "the upstream answer could not be translated")
			return nil
		}
	}
	var reply *translate.Response
	var perr error
	if whole {
		reply, perr = shape.parse(body)
		if perr == nil && final != nil {
			final()
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	if !whole { // larger than we keep: relay the rest, store nothing
		_, _ = io.Copy(w, resp.Body)
		return nil
	}
	if perr != nil {
		h.log.Debug("upstream answer could not be parsed; not stored", zap.Error(perr))
		return nil
	}
	_ = http.NewResponseController(w).Flush()
	return reply
}
