package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// send forwards the planned body. An answer saying the prompt did not fit the
// window although the estimate did is retried once at the next layer, after an
// urgent distillation (docs/context-window.md, Overflow retries). It returns
// the answer to relay, or nil when the client has been answered already.
func (t *turn) send() *http.Response {
	resp := t.call(t.planned.body)
	if resp == nil {
		return nil
	}
	overflow, head, peeked := checkOverflow(resp)
	if !overflow {
		if peeked != nil {
			resp.Body = peeked
		}
		publish(t.r, phRetried, false)
		return resp
	}
	_ = resp.Body.Close()
	h, p := t.h, t.planned
	h.obs.OverflowRetry()
	h.log.Warn("prompt too long upstream although the estimate fit; retrying once at a higher layer",
		zap.Int("layer", p.result.Layer), zap.Int("estimate", p.result.Expected),
		zap.Int("upstream_tokens", upstreamCount(head)))
	if !t.replan() {
		return nil
	}
	publish(t.r, phLayer, t.planned.result.Layer)
	if resp = t.call(t.planned.body); resp == nil {
		return nil
	}
	t.retried = true
	publish(t.r, phRetried, true)
	return resp
}

// call sends body upstream through the turn's egress. When the call fails
// the client is answered and nil is returned.
func (t *turn) call(body translate.Body) *http.Response {
	base, openAI := t.egress.upstream()
	upReq, err := newCallRequest(t.r.Context(), t.r, base, body, t.cred, openAI)
	if err != nil {
		writeError(t.w, t.egress.clientFlavor(), http.StatusBadRequest, "the request could not be forwarded")
		return nil
	}
	return t.h.roundTrip(t.w, upReq, t.egress.clientFlavor())
}

// newCallRequest is the upstream request of a turn's call, or of a recall
// follow-up: body, as JSON, to base's Messages path (Chat Completions' when
// openAI, which also decides how the credential is presented).
func newCallRequest(ctx context.Context, r *http.Request, base *url.URL, body translate.Body, cred auth.Credential, openAI bool) (*http.Request, error) {
	fl := anthropicFlavor
	if openAI {
		fl = openAIFlavor
	}
	req, err := newUpstreamRequest(ctx, r, base, body, cred, fl)
	if err != nil {
		return nil, err
	}
	req.URL.Path = strings.TrimRight(base.Path, "/") + upstreamPath(openAI)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
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
func checkOverflow(resp *http.Response) (overflow bool, head []byte, peeked io.ReadCloser) {
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

// isOverflow reports whether an upstream answer says the prompt did not fit
// the context window (docs/context-window.md, Overflow retries): Anthropic's
// 400 "prompt is too long", or an OpenAI-compatible upstream's
// context_length_exceeded.
func isOverflow(status int, body []byte) bool {
	return status == http.StatusBadRequest &&
		(bytes.Contains(body, []byte("prompt is too long")) || bytes.Contains(body, []byte("context_length_exceeded")))
}

// overflowCountRE finds the upstream's own token count in an overflow
// answer: Anthropic's "prompt is too long: N tokens > M maximum", OpenAI's
// "... your messages resulted in N tokens".
var overflowCountRE = regexp.MustCompile(`(?:prompt is too long: |resulted in )(\d+) tokens`)

// upstreamCount is the token count an overflow answer gives, or 0.
func upstreamCount(body []byte) int {
	m := overflowCountRE.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
