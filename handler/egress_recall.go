package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// Bounds of the recall work around one answer.
const (
	recallPing          = 5 * time.Second // keep-alive while the gateway searches and waits
	pendingRecallBudget = time.Second     // the search for the next request, before the commit
)

// recallEgress is the Anthropic egress with the recall tool answered inside
// the gateway: the common Claude Code turn (tools present, recall on) goes
// through here. Errors and the request go as anthropicEgress sends them;
// answers are relayed without the recall calls, which the gateway answers
// itself, asking the upstream to continue.
type recallEgress struct {
	anthropicEgress
	r    *http.Request
	sess *store.Session
	cred auth.Credential
	body translate.Body // the first round's upstream body
	// pending are recall calls the model made beside the client's own
	// tools: their results go with the session's next request.
	pending []recallCall
	// rounds, first and spent describe the follow-ups (rounds > 0): the
	// first round's usage (what the gradient's estimate is calibrated on)
	// and the usage of every round but the last, summed (for the cost).
	rounds int
	first  pricing.Usage
	spent  pricing.Usage
	// last is the usage of the round that ended the answer when what the
	// client was shown is not it: a stream's client saw round 1's
	// message_start and the last round's rewritten delta, and at the round
	// limit the last round is already in spent (last is then zero).
	last *pricing.Usage
}

// account returns the turn's usage for its cost (all rounds) and for the
// gradient's calibration (the first round: the body the gradient built),
// given the usage the client was shown.
func (e *recallEgress) account(shown pricing.Usage) (cost, calib pricing.Usage) {
	if e == nil || e.rounds == 0 {
		return shown, shown
	}
	last := shown
	if e.last != nil {
		last = *e.last
	}
	cost = sumUsage(e.spent, last)
	cost.OutputTokens = shown.OutputTokens // already the sum of all rounds
	return cost, e.first
}

// followUpFailure is a follow-up call that did not give a usable answer.
type followUpFailure struct {
	status int
	header http.Header
	body   []byte
}

// stream relays an SSE answer, answering recall calls inside the gateway
// (recallRelay). It returns the message as the client received it, nil
// when it did not end (client gone, or a failed follow-up sent as an error
// event: nothing is stored then).
func (e *recallEgress) stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	rc := startStream(w, resp)
	var client translate.Accumulator
	flush := func() { _ = rc.Flush() }
	rr := &recallRelay{flush: flush, events: &e.h.events, send: func(ev translate.Event) error {
		if _, err := w.Write(ev.Raw); err != nil {
			return err
		}
		if !ev.More {
			flush()
		}
		client.Add(ev) // only what the client has
		return nil
	}}
	body := e.body.Bytes()
	res := rr.round(resp.Body, true, final)
	for round := 1; res.ok && res.followUp; round++ {
		rr.finished(res.usage)
		e.book(res.usage)
		if round > maxRecallRounds {
			e.h.log.Info("recall: round limit reached; the answer ends here", zap.Int("rounds", maxRecallRounds))
			if !rr.close(final) {
				return nil
			}
			e.last = &pricing.Usage{} // every round is in spent
			break
		}
		stop := rr.keepAlive(recallPing)
		next, up, failed := e.followUp(body, res.content, res.calls, true)
		stop()
		if failed != nil {
			rr.fail(failed.body)
			return nil
		}
		body = next
		res = rr.round(up.Body, false, final)
		_ = up.Body.Close()
	}
	if res.ok && res.others {
		e.pending = res.calls
	}
	if !client.Done() {
		return nil
	}
	if e.rounds > 0 && e.last == nil {
		e.last = &res.usage
	}
	return client.Response()
}

// json reads a non-streamed answer; when the model called only recall it
// asks for the continuation (up to maxRecallRounds) and answers with one
// message: every round's blocks except the recall calls (and the
// continuations' thinking), the last round's stop reason, usage as in
// recallRelay. A failed follow-up is relayed as the upstream's error.
func (e *recallEgress) json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	raw, err := readAnswer(resp)
	var reply *translate.Response
	var calls []recallCall
	others := false
	if err == nil && len(raw) < maxResponseBody && bytes.Contains(raw, []byte(`"`+recallToolName+`"`)) {
		if r, perr := translate.ParseResponse(raw); perr == nil {
			reply = r
			calls, others = recallCalls(r.Content)
		}
	}
	if len(calls) == 0 { // the common case: exactly as anthropicEgress
		return e.h.answerJSON(w, resp, raw, err, final, messagesAnswer)
	}
	kept := withoutRecallBlocks(reply.Content, false)
	out := reply.Usage.OutputTokens
	body := e.body.Bytes()
	for round := 1; !others && reply.StopReason == "tool_use"; round++ {
		e.book(reply.Usage)
		if round > maxRecallRounds {
			e.h.log.Info("recall: round limit reached; the answer ends here", zap.Int("rounds", maxRecallRounds))
			reply.StopReason = "end_turn"
			e.last = &pricing.Usage{} // every round is in spent
			break
		}
		next, up, failed := e.followUp(body, reply.Content, calls, false)
		if failed != nil {
			copyResponseHeaders(w.Header(), failed.header)
			w.Header().Set("Content-Length", strconv.Itoa(len(failed.body)))
			w.WriteHeader(failed.status)
			_, _ = w.Write(failed.body)
			return nil
		}
		more, err := readAnswer(up)
		_ = up.Body.Close()
		r2, perr := translate.ParseResponse(more)
		if err != nil || perr != nil {
			writeError(w, anthropicFlavor, http.StatusBadGateway, "the gateway could not read the continuation after a recall call")
			return nil
		}
		body, raw, reply = next, more, r2
		out += r2.Usage.OutputTokens
		calls, others = recallCalls(r2.Content)
		kept = append(kept, withoutRecallBlocks(r2.Content, true)...)
		if len(calls) == 0 {
			break
		}
	}
	if others {
		e.pending = calls
	}
	content := []byte("[" + string(joinRaw(kept)) + "]")
	usage := reply.Usage
	usage.OutputTokens = out
	u, _ := json.Marshal(usage)
	stop, _ := json.Marshal(reply.StopReason)
	fields := map[string][]byte{"content": content, "stop_reason": stop}
	if e.rounds > 0 {
		fields["usage"] = u
	}
	answer, err := translate.ReplaceFields(raw, fields)
	if err != nil {
		answer = raw
	}
	reply.Content, reply.Usage = content, usage
	copyResponseHeaders(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	if final != nil {
		final()
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(answer)
	return reply
}

// book records a round that needed a follow-up.
func (e *recallEgress) book(u pricing.Usage) {
	if e.rounds == 0 {
		e.first = u
	}
	e.rounds++
	e.spent = sumUsage(e.spent, u)
}

// followUp answers the recall calls and asks the upstream to go on: the
// previous round's body plus the model's answer and the results. It
// returns the new body and the upstream's 2xx answer (an event stream when
// stream is set), or what failed.
func (e *recallEgress) followUp(body []byte, content json.RawMessage, calls []recallCall, stream bool) ([]byte, *http.Response, *followUpFailure) {
	h := e.h
	ctx := e.r.Context()
	internal := func(why string, err error) *followUpFailure {
		h.log.Info("recall: no follow-up call", zap.String("why", why), zap.Error(err))
		return &followUpFailure{status: http.StatusBadGateway, header: http.Header{"Content-Type": {"application/json"}},
			body: []byte(`{"type":"error","error":{"type":"api_error","message":"the gateway could not continue this answer after a recall call"}}`)}
	}
	results := h.runRecall(ctx, e.sess, calls)
	req, err := translate.ParseRequest(body)
	if err != nil {
		return nil, nil, internal("previous body unreadable", err)
	}
	extra, err := followUpMessages(content, calls, results)
	if err != nil {
		return nil, nil, internal("follow-up messages", err)
	}
	next, err := translate.ReplaceFields(body, map[string][]byte{"messages": appendMessages(req.Messages, extra)})
	if err != nil {
		return nil, nil, internal("follow-up body", err)
	}
	// Not roundTrip, which writes its own 502 to the client: in a stream the
	// client already has part of the answer, so the caller turns a failure
	// into an error event (and writes it itself for a JSON answer).
	up, err := newCallRequest(ctx, e.r, h.cfg.Upstream, translate.BodyOf(next), e.cred, false)
	if err != nil {
		return nil, nil, internal("follow-up request", err)
	}
	resp, err := h.transport.RoundTrip(up)
	if err != nil {
		return nil, nil, internal("upstream unreachable", err)
	}
	h.obs.UpstreamStatus(resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 || (stream && !isEventStream(resp.Header)) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
		_ = resp.Body.Close()
		h.log.Info("recall: the follow-up call failed; relaying its error", zap.Int("status", resp.StatusCode))
		status := resp.StatusCode
		if status >= 200 && status <= 299 {
			status = http.StatusBadGateway
		}
		return nil, nil, &followUpFailure{status: status, header: resp.Header, body: b}
	}
	return next, resp, nil
}

// pendingRecall is the recall calls the answer made beside the client's
// own tools, with what running them needs (but not the egress, which keeps
// the request's upstream body alive).
type pendingRecall struct {
	h     *Handler
	sess  *store.Session
	calls []recallCall
}

func (e *recallEgress) pendingRecall() pendingRecall {
	if e == nil {
		return pendingRecall{}
	}
	return pendingRecall{h: e.h, sess: e.sess, calls: e.pending}
}

// text runs the calls kept for the next request and renders them (after
// the answer, before the turn's commit, which the next request waits for:
// hence the tight budget).
func (p pendingRecall) text(ctx context.Context) string {
	if len(p.calls) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, pendingRecallBudget)
	defer cancel()
	return pendingRecallText(p.calls, p.h.runRecall(ctx, p.sess, p.calls))
}

func joinRaw(parts []json.RawMessage) []byte {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	return b
}
