package handler

import (
	"bytes"
	"errors"
	"io"
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
	body, ok := h.readBody(w, r, openAIFlavor)
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
	eg := h.openAIEgress(oreq)
	if claude {
		cred.Provider = auth.ProviderAnthropic
		eg = h.claudeViaOpenAIEgress(oreq)
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
	body, err := upstreamBody(eg, translate.BodyOf(internal))
	if err != nil {
		writeError(w, eg.flavor, http.StatusInternalServerError, "the gateway could not prepare this request")
		return
	}
	resp := h.sendTurn(w, r, body, cred, eg)
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		eg.relayError(w, resp)
	case isEventStream(resp.Header):
		eg.stream(w, resp, nil)
	default:
		eg.json(w, resp, nil)
	}
}

// isClaudeModel decides the upstream of an OpenAI-format request.
func isClaudeModel(model string) bool {
	m := strings.ToLower(model)
	return strings.HasPrefix(m, "claude") || strings.HasPrefix(m, "anthropic/claude")
}

// claudeViaOpenAIEgress sends Messages to the Anthropic upstream and
// translates answers and errors back to OpenAI's format.
func (h *Handler) claudeViaOpenAIEgress(oreq *translate.OpenAIRequest) egress {
	created := h.now().Unix()
	return egress{
		flavor: openAIFlavor,
		base:   h.cfg.Upstream,
		relayError: func(w http.ResponseWriter, resp *http.Response) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
			copyResponseHeaders(w.Header(), resp.Header)
			w.Header().Del("Content-Length")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(translate.AnthropicErrorToOpenAI(body))
		},
		stream: func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
			resp.Header.Set("Content-Type", "text/event-stream")
			rc := startStream(w, resp)
			tr := translate.NewStreamTranslator(flushWriter{w: w, rc: rc}, oreq.Model, created, oreq.IncludeUsage)
			reply := eachEvent(resp, final, tr.Event)
			_ = tr.Close()
			return reply
		},
		json: func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
			if err != nil {
				return nil
			}
			out, terr := translate.AnthropicToOpenAI(body, created)
			copyResponseHeaders(w.Header(), resp.Header)
			w.Header().Del("Content-Length")
			w.Header().Set("Content-Type", "application/json")
			if terr != nil {
				writeError(w, openAIFlavor, http.StatusBadGateway, "the upstream answer could not be translated")
				return nil
			}
			reply, perr := translate.ParseResponse(body)
			if perr == nil && final != nil {
				final()
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(out)
			if perr != nil {
				return nil
			}
			return reply
		},
	}
}

// openAIEgress sends OpenAI chat completions to openai_upstream and passes
// answers through unchanged, keeping a copy to store.
func (h *Handler) openAIEgress(oreq *translate.OpenAIRequest) egress {
	return egress{
		flavor:     openAIFlavor,
		base:       h.cfg.OpenAIUpstream,
		openAI:     true,
		body:       oreq.ToOpenAI,
		relayError: func(w http.ResponseWriter, resp *http.Response) { h.relay(w, resp, nil) },
		stream: func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
			rc := startStream(w, resp)
			var acc translate.OpenAIAccumulator
			events := translate.NewEventReader(resp.Body)
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
				_ = rc.Flush()
			}
			if !acc.Done() {
				return nil
			}
			return acc.Response()
		},
		json: func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
			copyResponseHeaders(w.Header(), resp.Header)
			reply, perr := translate.ParseOpenAIResponse(body)
			if err == nil && perr == nil && final != nil {
				final()
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body)
			if err != nil || perr != nil || len(body) == maxResponseBody {
				_, _ = io.Copy(w, resp.Body)
				return nil
			}
			return reply
		},
	}
}

// flushWriter flushes after every write: the stream translator writes once
// per upstream event, so each translated chunk leaves as soon as it exists.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		_ = f.rc.Flush()
	}
	return n, err
}
