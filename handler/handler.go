// Package handler is one request's path through the gateway: route
// (messages.go, openai.go) → classify → a turn (turn.go): identify the
// session (identify.go) → plan the upstream body (plan.go) → send it
// (send.go) → relay the answer through the route's egress (egress*.go) →
// store the answered turn (commit.go). The module wires the long-term
// memory it uses into the interfaces declared here.
package handler

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/internal/background"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/store"
)

// Config is what the module hands the handler after provisioning.
type Config struct {
	Upstream         *url.URL // Anthropic-compatible base URL
	OpenAIUpstream   *url.URL // OpenAI-compatible base URL
	MaxBody          int64
	Retention        time.Duration
	Store            *store.Store
	Keys             *auth.Keyring
	WorkerCredential auth.Credential
	// Identity, when set, names the person behind a request (the `identity`
	// option, evaluated per request); their namespace replaces the
	// credential's (docs/sessions-and-identity.md, Identity). nil: namespaces
	// are the credentials'.
	Identity func(r *http.Request) string
	// IdleResume is how long after its last turn a session's prompt cache is
	// taken to be cold (docs/context-window.md, Idle work and post-idle
	// compaction); 0 disables post-idle compaction.
	IdleResume time.Duration
	// Context is the module instance's: the work a turn leaves for later
	// (distillation, curation) stops when it ends. nil: at Close.
	Context context.Context
	// Distiller distils history; nil leaves it undistilled.
	Distiller Distiller
	// Knowledge injects long-term knowledge and curates it; nil: none.
	Knowledge Knowledge
	// Recall answers the recall tool offered to the model on /v1/messages
	// turns; nil offers no tool.
	Recall Recaller
	Logger *zap.Logger
	// Transport overrides the upstream transport (tests); nil builds one.
	Transport http.RoundTripper
	// Observer receives metrics events; nil records nothing.
	Observer Observer
	// DecodeCacheBytes bounds the memory kept for recent conversations'
	// decoded messages, so that a turn decodes only what its client added
	// since the previous one (see parseMessages); 0 means 64 MiB, a negative
	// value turns the cache off.
	DecodeCacheBytes int64
}

// Handler serves the gateway's routes. Safe for concurrent use; it holds no
// per-session state (that lives in Redis), only a bounded cache of recent
// conversations' decoded messages that any instance may lack.
type Handler struct {
	cfg       Config
	log       *zap.Logger
	transport http.RoundTripper
	obs       Observer
	now       func() time.Time

	pending pendingCommits
	hints   sessionHints  // lineage → the session this instance served last
	decoded *decodedCache // nil when off
	events  translate.EventReaders
	// commits store answered turns: their clients have their answers, so
	// they run to the end (each bounded by commitTimeout), and Close
	// waits for them.
	commits *background.Group
	// work is what a turn leaves for later (distillation, curation); it
	// ends with cfg.Context, or at Close.
	work *background.Group
}

// New builds a handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, log: cfg.Logger, transport: cfg.Transport, obs: cfg.Observer, now: time.Now}
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	parent := cfg.Context
	if parent == nil {
		parent = context.Background()
	}
	h.commits = background.New(context.Background(), h.log)
	h.work = background.New(parent, h.log)
	if h.transport == nil {
		h.transport = NewTransport()
	}
	switch {
	case cfg.DecodeCacheBytes == 0:
		h.decoded = newDecodedCache(defaultDecodeCacheBytes, decodeCacheEntries)
	case cfg.DecodeCacheBytes > 0:
		h.decoded = newDecodedCache(int(cfg.DecodeCacheBytes), decodeCacheEntries)
	}
	return h
}

// NewTransport keeps connections to the upstream alive and reuses them (HTTP/2
// where the upstream offers it). No response header timeout: a long generation
// may take minutes before its first byte on a non-streamed call.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Retention is how long a session's keys live after its last turn.
func (h *Handler) Retention() time.Duration { return h.cfg.Retention }

// Close waits for post-answer writes still running (each bounded by its own
// timeout), stops the work turns left for later, then drops idle upstream
// connections.
func (h *Handler) Close() {
	h.commits.Wait()
	h.commits.Stop()
	h.work.Stop()
	if t, ok := h.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// ServeHTTP routes a request: Anthropic Messages and OpenAI chat completions
// through the pipeline, any other /v1/* forwarded as is,
// everything else to the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	if path == "/v1" || strings.HasPrefix(path, "/v1/") {
		if !cleanAPIPath(w, r) {
			return nil
		}
		path = r.URL.Path
		var ok bool
		if r, ok = h.withIdentity(w, r); !ok {
			return nil
		}
	}
	switch {
	case path == "/v1/messages" && r.Method == http.MethodPost:
		h.serveMessages(w, r)
	case path == "/v1/chat/completions" && r.Method == http.MethodPost:
		h.serveChat(w, r)
	case path == "/v1" || strings.HasPrefix(path, "/v1/"):
		h.seen(r, label.RoutePassthrough, label.ClassPassthrough, layerNone)
		// The credential goes only to the provider whose client sent it
		// (docs/sessions-and-identity.md, Provider binding): an OpenAI SDK's
		// GET /v1/models must not hand its key to Anthropic.
		if auth.RouteOf(r.Header) == auth.ProviderOpenAI {
			h.passthrough(w, r, h.cfg.OpenAIUpstream, openAIFlavor)
		} else {
			h.passthrough(w, r, h.cfg.Upstream, anthropicFlavor)
		}
	default:
		return next.ServeHTTP(w, r)
	}
	return nil
}
