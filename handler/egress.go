package handler

import (
	"net/http"
	"net/url"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// egress is how a turn leaves and how its answer comes back. The pipeline in
// between (identify, plan, store) is the same for every route; what differs
// is where the body goes, in which format, and how the answer is relayed:
//
//   - anthropicEgress: Messages to the Anthropic upstream, answers as they are;
//   - recallEgress: anthropicEgress with the recall tool answered inside the
//     gateway (the common Claude Code turn: tools present, recall on);
//   - claudeViaOpenAIEgress: an OpenAI client's Claude turn, answers
//     translated back to chat completions;
//   - openAIEgress: any other model, to openai_upstream in OpenAI format.
type egress interface {
	// clientFlavor is the client's API: the shape of gateway-made errors.
	clientFlavor() flavor
	// upstream is where the turn goes, and whether that upstream speaks
	// OpenAI chat completions (the credential then goes as a Bearer token).
	upstream() (base *url.URL, openAI bool)
	// upstreamBody turns the pipeline's Messages body into the upstream's.
	upstreamBody(messages translate.Body) (translate.Body, error)
	// relayError answers the client with the upstream's non-2xx answer.
	relayError(w http.ResponseWriter, resp *http.Response)
	// stream and json answer the client with a 2xx answer and return the
	// reply to store, nil when it is incomplete or unreadable. They call
	// final (when not nil) right before writing the last bytes of a
	// complete answer, so the turn can announce its pending commit before
	// the client could possibly send the next one.
	stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response
	json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response
}

// startStream sends an SSE answer's headers: the upstream's, minus the
// length, marked no-transform so an encode directive cannot buffer it.
func startStream(w http.ResponseWriter, resp *http.Response) *http.ResponseController {
	copyResponseHeaders(w.Header(), resp.Header)
	w.Header().Del("Content-Length")
	w.Header().Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(resp.StatusCode)
	return http.NewResponseController(w)
}

// eachEvent reads a Messages SSE answer event by event as it arrives,
// accumulating the assistant message and handing every event to emit, and
// flushes what emit wrote unless the next event has already arrived
// (translate.Event.More); final runs just before the message_stop event is
// emitted. It returns the reply, or nil unless the stream ran to
// message_stop and every emit succeeded.
func eachEvent(readers *translate.EventReaders, resp *http.Response, rc *http.ResponseController, final func(), emit func(translate.Event) error) *translate.Response {
	var acc translate.Accumulator
	events := readers.Get(resp.Body)
	defer readers.Put(events)
	for {
		ev, err := events.Next()
		if err != nil {
			break
		}
		acc.Add(ev)
		if acc.Done() && final != nil {
			final()
			final = nil
		}
		if emit(ev) != nil {
			return nil // client gone: the caller's deferred Close cancels the upstream
		}
		if !ev.More {
			_ = rc.Flush()
		}
	}
	if !acc.Done() {
		return nil
	}
	return acc.Response()
}
