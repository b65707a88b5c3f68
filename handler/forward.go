package handler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// defaultAnthropicVersion is sent when the client sent none.
const defaultAnthropicVersion = "2023-06-01"

// forwardedPrefixes and forwardedHeaders are the client headers the upstream
// gets (docs/architecture.md, Credentials and forwarded headers): API
// versioning and betas, content type, client identity, Claude Code's own
// headers. Credentials are set separately per scheme; cookies, proxies'
// X-Forwarded-* and hop-by-hop headers never pass.
var (
	forwardedPrefixes = []string{"Anthropic-", "X-Claude-Code-", "X-Stainless-", "Openai-"}
	forwardedHeaders  = []string{"Content-Type", "Accept", "User-Agent", "X-App", "X-Client-Request-Id"}
)

// hopByHop are connection-level response headers a proxy must not relay.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// newUpstreamRequest builds the upstream request for r: same method, path and
// query under base, the forwarded headers, and cred in the flavor's form.
func newUpstreamRequest(ctx context.Context, r *http.Request, base *url.URL, body translate.Body, cred auth.Credential, fl flavor) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	var rd io.Reader
	switch {
	case body != nil && body.Len() == 0:
		rd = http.NoBody
	case body != nil:
		rd = body.Reader()
	case r.Body != nil && r.Body != http.NoBody:
		rd = r.Body
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	switch {
	case body != nil && body.Len() > 0:
		// A rebuilt body is sent from the slices it is made of, without
		// joining them; GetBody lets the transport replay it.
		out.ContentLength = int64(body.Len())
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.Reader()), nil }
	case body == nil && rd != nil:
		out.ContentLength = r.ContentLength
	}
	copyForwardedHeaders(out.Header, r.Header)
	if fl == openAIFlavor {
		cred.SetOpenAI(out.Header)
	} else {
		if out.Header.Get("Anthropic-Version") == "" {
			out.Header.Set("Anthropic-Version", defaultAnthropicVersion)
		}
		cred.SetAnthropic(out.Header)
	}
	return out, nil
}

func copyForwardedHeaders(dst, src http.Header) {
	for name, values := range src {
		if forwardedHeader(name) {
			dst[name] = append([]string(nil), values...)
		}
	}
}

func forwardedHeader(canonical string) bool {
	for _, h := range forwardedHeaders {
		if canonical == h {
			return true
		}
	}
	for _, p := range forwardedPrefixes {
		if strings.HasPrefix(canonical, p) {
			return true
		}
	}
	return false
}

// copyResponseHeaders relays the upstream's response headers (request-id,
// retry-after, rate limits, content type, ...) minus hop-by-hop ones. The
// value slices are shared, not copied: src is an upstream response's, read
// once and dropped, and a later Add on dst appends without writing into
// the values src sees.
func copyResponseHeaders(dst, src http.Header) {
	for name, values := range src {
		dst[name] = values
	}
	for _, h := range hopByHop {
		dst.Del(h)
	}
	for _, h := range src.Values("Connection") {
		for _, f := range strings.Split(h, ",") {
			dst.Del(strings.TrimSpace(f))
		}
	}
}

// roundTrip performs the upstream call. When it fails the client is answered
// (502, or nothing if the client itself went away) and nil is returned.
func (h *Handler) roundTrip(w http.ResponseWriter, req *http.Request, fl flavor) *http.Response {
	resp, err := h.transport.RoundTrip(req)
	if err == nil {
		h.obs.UpstreamStatus(resp.StatusCode)
		return resp
	}
	if errors.Is(req.Context().Err(), context.Canceled) {
		return nil // the client disconnected; nobody to answer
	}
	h.log.Warn("upstream request failed", zap.String("upstream", req.URL.Redacted()), zap.Error(err))
	writeError(w, fl, http.StatusBadGateway, "upstream unreachable: the gateway could not get an answer from the upstream API")
	return nil
}

// passthrough forwards a request with the caller's credential, body untouched,
// and relays the answer as it arrives.
func (h *Handler) passthrough(w http.ResponseWriter, r *http.Request, base *url.URL, fl flavor) {
	if r.ContentLength > h.cfg.MaxBody {
		writeError(w, fl, http.StatusRequestEntityTooLarge, tooLargeMessage(h.cfg.MaxBody))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	req, err := newUpstreamRequest(r.Context(), r, base, nil, auth.Extract(r.Header), fl)
	if err != nil {
		writeError(w, fl, http.StatusBadRequest, "the request could not be forwarded")
		return
	}
	resp := h.roundTrip(w, req, fl)
	if resp == nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	h.relayAsIs(w, resp)
}

// relayAsIs writes an upstream response to the client unchanged, flushing as
// data arrives so streams are never buffered.
func (h *Handler) relayAsIs(w http.ResponseWriter, resp *http.Response) {
	copyResponseHeaders(w.Header(), resp.Header)
	if isEventStream(resp.Header) {
		w.Header().Set("Cache-Control", "no-cache, no-transform")
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/event-stream")
}
