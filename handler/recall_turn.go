package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/store"
)

// recallTurn is what answering the recall tool needs of one turn whose
// request offered it.
type recallTurn struct {
	h    *Handler
	r    *http.Request
	sess *store.Session
	cred auth.Credential
	body translate.Body // the first round's upstream body
	// pending are recall calls the model made beside the client's own
	// tools: their results go with the session's next request.
	pending []recallCall
}

// stream relays an SSE answer, answering recall calls inside the gateway
// (recallRelay). It returns the message as the client received it.
func (rt *recallTurn) stream(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	rc := startStream(w, resp)
	var client translate.Accumulator
	rr := &recallRelay{send: func(ev translate.Event) error {
		client.Add(ev)
		if _, err := w.Write(ev.Raw); err != nil {
			return err
		}
		_ = rc.Flush()
		return nil
	}}
	body := rt.body.Bytes()
	res := rr.round(resp.Body, true, final)
	for round := 1; res.ok && res.followUp; round++ {
		rr.prior = sumUsage(rr.prior, res.usage)
		next, up := rt.followUp(body, res.content, res.calls, round)
		if up == nil {
			if !rr.close(final) {
				return nil
			}
			break
		}
		body = next
		res = rr.round(up.Body, false, final)
		up.Body.Close()
	}
	if res.ok && res.others {
		rt.pending = res.calls
	}
	if !client.Done() {
		return nil
	}
	return client.Response()
}

// json reads a non-streamed answer; when the model called only recall it
// asks for the continuation (up to maxRecallRounds) and answers with one
// message: every round's blocks except the recall calls, the last round's
// stop reason, the usage of all rounds.
func (rt *recallTurn) json(w http.ResponseWriter, resp *http.Response, final func()) *translate.Response {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	reply, perr := translate.ParseResponse(raw)
	var calls []recallCall
	others := false
	if err == nil && perr == nil && len(raw) < maxResponseBody {
		calls, others = recallCalls(reply.Content)
	}
	if len(calls) == 0 { // the common case: exactly as jsonTurn
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(raw), resp.Body), resp.Body}
		return rt.h.jsonTurn(w, resp, final)
	}
	kept := withoutRecallBlocks(reply.Content)
	usage := reply.Usage
	body := rt.body.Bytes()
	for round := 1; !others && reply.StopReason == "tool_use"; round++ {
		next, up := rt.followUp(body, reply.Content, calls, round)
		if up == nil {
			reply.StopReason = "end_turn"
			break
		}
		more, err := io.ReadAll(io.LimitReader(up.Body, maxResponseBody))
		up.Body.Close()
		r2, perr := translate.ParseResponse(more)
		if err != nil || perr != nil {
			reply.StopReason = "end_turn"
			break
		}
		body, raw, reply = next, more, r2
		usage = sumUsage(usage, r2.Usage)
		calls, others = recallCalls(r2.Content)
		kept = append(kept, withoutRecallBlocks(r2.Content)...)
		if len(calls) == 0 {
			break
		}
	}
	if others {
		rt.pending = calls
	}
	content := []byte("[" + string(joinRaw(kept)) + "]")
	u, _ := json.Marshal(usage)
	stop, _ := json.Marshal(reply.StopReason)
	out, err := translate.ReplaceFields(raw, map[string][]byte{"content": content, "usage": u, "stop_reason": stop})
	if err != nil {
		out = raw
	}
	reply.Content, reply.Usage = content, usage
	copyResponseHeaders(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if final != nil {
		final()
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return reply
}

// followUp answers the recall calls of round-1 and asks the upstream to go
// on: the previous round's body plus the model's answer and the results.
// It returns the new body and the upstream's 2xx answer, or nil when the
// round limit is reached or the call fails (the caller ends the message).
func (rt *recallTurn) followUp(body []byte, content json.RawMessage, calls []recallCall, round int) ([]byte, *http.Response) {
	h := rt.h
	if round > maxRecallRounds {
		h.log.Info("recall: round limit reached; the answer ends here", zap.Int("rounds", maxRecallRounds))
		return nil, nil
	}
	ctx := rt.r.Context()
	results := h.runRecall(ctx, rt.sess, calls)
	req, err := translate.ParseRequest(body)
	if err != nil {
		return nil, nil
	}
	extra, err := followUpMessages(content, calls, results)
	if err != nil {
		return nil, nil
	}
	next, err := translate.ReplaceFields(body, map[string][]byte{"messages": appendMessages(req.Messages, extra)})
	if err != nil {
		return nil, nil
	}
	up, err := newUpstreamRequest(ctx, rt.r, h.cfg.Upstream, translate.BodyOf(next), rt.cred, anthropicFlavor)
	if err != nil {
		return nil, nil
	}
	up.URL.Path = strings.TrimRight(h.cfg.Upstream.Path, "/") + upstreamPath(false)
	up.Header.Set("Content-Type", "application/json")
	resp, err := h.transport.RoundTrip(up)
	if err != nil {
		h.log.Info("recall: the follow-up call failed; the answer ends here", zap.Error(err))
		return nil, nil
	}
	h.obs.UpstreamStatus(resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		h.log.Info("recall: the follow-up call was refused; the answer ends here", zap.Int("status", resp.StatusCode))
		return nil, nil
	}
	return next, resp
}

// pendingText runs the calls kept for the next request and renders them
// (after the answer, on the turn's background context).
func (rt *recallTurn) pendingText(ctx context.Context) string {
	if rt == nil || len(rt.pending) == 0 {
		return ""
	}
	return pendingRecallText(rt.pending, rt.h.runRecall(ctx, rt.sess, rt.pending))
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
