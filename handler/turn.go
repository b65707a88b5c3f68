package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

// maxResponseBody bounds how much of a non-streamed upstream answer is kept in
// memory to be stored; larger answers are still relayed in full.
const maxResponseBody = 64 << 20

// serveMessages handles POST /v1/messages.
func (h *Handler) serveMessages(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r, anthropicFlavor)
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
		h.serveTurn(w, r, req, msgs, cred, h.anthropicEgress())
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
	resp := h.send(w, req, anthropicFlavor)
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	h.relay(w, resp, nil)
}

// egress is how a turn leaves and how its answer comes back: the Anthropic
// route relays Messages as they are; the OpenAI route translates (see
// openai.go). The pipeline in between is the same.
type egress struct {
	flavor flavor   // error shape of gateway-made errors
	base   *url.URL // upstream base URL
	openAI bool     // the upstream speaks OpenAI chat completions (credential as Bearer)
	// body turns the pipeline's Messages body into the upstream body; nil
	// sends it as it is.
	body func(messagesBody []byte) ([]byte, error)
	// relayError, stream and json answer the client; stream and json return
	// the reply to store, nil when it is incomplete or unreadable. They call
	// final (when not nil) right before writing the last bytes of a complete
	// answer, so the turn can announce its pending commit before the client
	// could possibly send the next one.
	relayError func(w http.ResponseWriter, resp *http.Response)
	stream     func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response
	json       func(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response
}

// anthropicEgress relays Messages answers unchanged.
func (h *Handler) anthropicEgress() egress {
	return egress{
		flavor:     anthropicFlavor,
		base:       h.cfg.Upstream,
		relayError: func(w http.ResponseWriter, resp *http.Response) { h.relay(w, resp, nil) },
		stream:     h.streamTurn,
		json:       h.jsonTurn,
	}
}

// serveTurn runs a conversation turn: identify the session, fit the history
// into the window (the gradient), forward, answer the client as the upstream
// answers, and store the turn once the upstream has accepted the credential
// (2xx) and the answer is complete. A context-overflow answer is retried once
// at the next layer after an urgent distillation (SPEC §4.6).
func (h *Handler) serveTurn(w http.ResponseWriter, r *http.Request, req *translate.Request, msgs []msg.Message, cred auth.Credential, eg egress) {
	ctx := r.Context()
	sess := h.identify(ctx, r.Header, req, msgs, cred)
	p, ok := h.plan(w, r, req, msgs, h.loadState(sess, h.now()), sess, eg)
	if !ok {
		return
	}
	if sess != nil {
		publish(r, phSession, sess.ID)
	}
	h.seen(r, routeOf(eg), label.ClassTurn, p.result.Layer)
	h.obs.TokensRemoved(p.result.TokensRemoved)
	resp := h.sendTurn(w, r, p.body, cred, eg)
	if resp == nil {
		return
	}
	retried := false
	if overflow, head, peeked := h.checkOverflow(resp); overflow {
		resp.Body.Close()
		h.obs.OverflowRetry()
		h.log.Warn("prompt too long upstream although the estimate fit; retrying once at a higher layer",
			zap.Int("layer", p.result.Layer), zap.Int("estimate", p.result.Expected),
			zap.Int("upstream_tokens", upstreamCount(head)))
		if p, ok = h.replan(w, r, req, msgs, p, sess, eg); !ok {
			return
		}
		publish(r, phLayer, p.result.Layer)
		if resp = h.sendTurn(w, r, p.body, cred, eg); resp == nil {
			return
		}
		retried = true
	} else if peeked != nil {
		resp.Body = peeked
	}
	defer resp.Body.Close()
	publish(r, phRetried, retried)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		eg.relayError(w, resp) // errors reach the client unchanged; nothing is stored
		return
	}
	var final func()
	var done chan struct{}
	if sess != nil {
		final = func() { done = h.pending.begin(sess.Lineage) }
	}
	stream, asJSON := eg.stream, eg.json
	var rt *recallTurn
	if p.recall {
		rt = &recallTurn{h: h, r: r, sess: sess, cred: cred, body: p.body}
		stream, asJSON = rt.stream, rt.json
	}
	var reply *translate.Response
	if isEventStream(resp.Header) {
		reply = stream(w, resp, final)
	} else {
		reply = asJSON(w, resp, final)
	}
	if done == nil {
		return // incomplete answer or no state: nothing to store
	}
	if reply == nil {
		h.pending.end(sess.Lineage, done)
		return
	}
	// The client has its answer; store the turn off its critical path. The
	// next turn of this lineage waits for it in identify.
	u, calib := rt.account(reply.Usage) // recall follow-ups: all rounds cost, the first one calibrates
	h.obs.Tokens(u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens)
	cost, without := turnCost(req.Model, u, p.result.TokensRemoved, msgs, sess.MessageCount, sess.Turns)
	h.obs.Cost(cost, without)
	publishTurn(r, u, cost, without)
	gradient.Calibrate(&p.state, int(calib.InputTokens+calib.CacheReadTokens+calib.CacheWriteTokens))
	urgent := p.result.UrgentDistill || retried || stoppedForWindow(reply)
	h.background(func(bg context.Context) {
		defer h.pending.end(sess.Lineage, done)
		sess.RecallPending = rt.pendingText(bg) // consumed by this turn; new ones for the next
		stored := h.commit(bg, sess, req.Model, msgs, reply, cred, &p.state, usage.Turn(u, cost, without))
		if h.cfg.Distiller != nil && (urgent || stored >= distillThreshold) {
			h.cfg.Distiller.AfterTurn(bg, sess.ID, urgent)
		}
		if h.cfg.Knowledge != nil && stored > 0 {
			h.cfg.Knowledge.AfterTurn(bg, sess.ID, sess.TurnsSinceCuration+1)
		}
	})
}

// distillThreshold: below this many stored messages no background
// distillation can be due (SPEC §4.7's 30 undistilled), so the check is skipped.
const distillThreshold = 30

// plan transforms the turn; on an internal failure the client is answered.
func (h *Handler) plan(w http.ResponseWriter, r *http.Request, req *translate.Request, msgs []msg.Message, st gradient.State, sess *store.Session, eg egress) (*plan, bool) {
	rows := h.rows(r.Context(), sess)
	limits := gradient.LimitsFor(req.Model, gradient.HasBeta1M(r.Header.Values("Anthropic-Beta")...))
	mem := memory{knowledge: h.knowledgeBlock(r.Context(), sess, &st, limits, msgs, rows),
		offerRecall: h.cfg.Recall != nil && sess != nil && eg.flavor == anthropicFlavor && !eg.openAI}
	if sess != nil && h.cfg.Recall != nil {
		mem.pendingRecall = sess.RecallPending
	}
	p, err := h.transform(st, limits, req, msgs, rows, mem)
	if err == nil {
		p.body, err = upstreamBody(eg, p.body)
	}
	if err != nil {
		h.log.Error("transforming the turn failed", zap.Error(err))
		writeError(w, eg.flavor, http.StatusInternalServerError, "the gateway could not prepare this request")
		return nil, false
	}
	return p, true
}

// replan is the overflow recovery: distil what is pending now, then force
// the layer above the one that did not fit.
func (h *Handler) replan(w http.ResponseWriter, r *http.Request, req *translate.Request, msgs []msg.Message, prev *plan, sess *store.Session, eg egress) (*plan, bool) {
	if h.cfg.Distiller != nil && sess != nil {
		if err := h.cfg.Distiller.DistillNow(r.Context(), sess.ID); err != nil {
			h.log.Info("urgent distillation before the overflow retry failed", zap.String("session", sess.ID), zap.Error(err))
		}
	}
	st := prev.state
	st.ForceNextLayer()
	h.log.Debug("overflow retry planned", zap.Int("failed_layer", prev.result.Layer), zap.Int("forced_layer", st.ForceMinLayer))
	return h.plan(w, r, req, msgs, st, sess, eg)
}

// sendTurn forwards the planned body upstream.
func (h *Handler) sendTurn(w http.ResponseWriter, r *http.Request, body translate.Body, cred auth.Credential, eg egress) *http.Response {
	upFlavor := anthropicFlavor // decides how the credential is presented
	if eg.openAI {
		upFlavor = openAIFlavor
	}
	upReq, err := newUpstreamRequest(r.Context(), r, eg.base, body, cred, upFlavor)
	if err != nil {
		writeError(w, eg.flavor, http.StatusBadRequest, "the request could not be forwarded")
		return nil
	}
	upReq.URL.Path = strings.TrimRight(eg.base.Path, "/") + upstreamPath(eg.openAI)
	upReq.Header.Set("Content-Type", "application/json")
	return h.send(w, upReq, eg.flavor)
}

func upstreamPath(openAI bool) string {
	if openAI {
		return "/v1/chat/completions"
	}
	return "/v1/messages"
}

// maxErrorPeek bounds how much of a 400 answer is read to look for the
// overflow message; error envelopes are small.
const maxErrorPeek = 64 << 10

// checkOverflow reads a 400 answer's beginning to see whether it is the
// context-window overflow (head is what it read). When it is not, peeked
// replays what was read followed by the rest of the body.
func (h *Handler) checkOverflow(resp *http.Response) (overflow bool, head []byte, peeked io.ReadCloser) {
	if resp.StatusCode != http.StatusBadRequest {
		return false, nil, nil
	}
	head, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
	if isOverflow(resp.StatusCode, head) {
		return true, head, nil
	}
	return false, nil, struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
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
// accumulating the assistant message and handing every event to emit; final
// runs just before the message_stop event is emitted. It returns the reply,
// or nil unless the stream ran to message_stop and every emit succeeded.
func eachEvent(resp *http.Response, final func(), emit func(translate.Event) error) *translate.Response {
	var acc translate.Accumulator
	events := translate.NewEventReader(resp.Body)
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
	}
	if !acc.Done() {
		return nil
	}
	return acc.Response()
}

// streamTurn forwards an SSE answer event by event as it arrives, flushing
// after each, while accumulating the assistant message.
func (h *Handler) streamTurn(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	rc := startStream(w, resp)
	return eachEvent(resp, final, func(ev translate.Event) error {
		if _, err := w.Write(ev.Raw); err != nil {
			return err
		}
		_ = rc.Flush()
		return nil
	})
}

// jsonTurn reads a non-streamed answer whole, then relays it and returns the
// parsed copy to store. Reading first costs nothing (the client cannot use a
// partial JSON body) and lets final run before the client has the answer.
func (h *Handler) jsonTurn(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	copyResponseHeaders(w.Header(), resp.Header)
	if err != nil {
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return nil
	}
	reply, perr := translate.ParseResponse(body)
	if perr == nil && final != nil {
		final()
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	if len(body) == maxResponseBody { // larger than we keep: relay the rest, store nothing
		_, _ = io.Copy(w, resp.Body)
		return nil
	}
	if perr != nil {
		h.log.Debug("upstream answer is not a Messages response; not stored", zap.Error(perr))
		return nil
	}
	_ = http.NewResponseController(w).Flush()
	return reply
}

// limitedBuffer keeps at most left bytes and silently drops the rest, so a
// huge answer is relayed in full but not held in memory.
type limitedBuffer struct {
	buf  *bytes.Buffer
	left int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.left > 0 {
		n := min(len(p), l.left)
		l.buf.Write(p[:n])
		l.left -= n
	}
	return len(p), nil
}
