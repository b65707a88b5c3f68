package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/metrics/label"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// Defaults of Config.
const (
	DefaultUpstream      = "https://api.anthropic.com"
	DefaultMaxConcurrent = 4
	// DefaultTimeout bounds one worker call when the caller's context has no
	// deadline: 8,192 output tokens take a minute or two on a small model.
	DefaultTimeout = 5 * time.Minute
	// DefaultCloseTimeout is how long Close lets running background calls
	// finish before cancelling them.
	DefaultCloseTimeout = 10 * time.Second
	// maxPending bounds the background calls waiting for a free slot. The
	// distillation guard allows one run per session, so this is only reached
	// with thousands of busy sessions; beyond it calls fail with ErrBusy and
	// the normal triggers retry them later.
	maxPending = 1024
	// applyTimeout bounds an Apply or Fail run after a background call, on a
	// context that outlives Close's cancellation so guards still get released.
	applyTimeout = 10 * time.Second
)

// ErrClosed is returned for background work submitted after Close.
var ErrClosed = errors.New("llm: worker closed")

// ErrBusy is returned when the background pool's wait list is full.
var ErrBusy = errors.New("llm: worker busy")

// ErrNoHandler is returned by Apply for a kind nobody registered.
var ErrNoHandler = errors.New("llm: no handler for call kind")

// Config configures a Worker.
type Config struct {
	Upstream *url.URL // Anthropic-compatible base URL; nil: DefaultUpstream
	// OpenAIUpstream is where calls billed to an OpenAI-provider credential
	// go (chat completions); nil: DefaultOpenAIUpstream.
	OpenAIUpstream *url.URL
	// OpenAIModel is the model of those calls; "": DefaultOpenAIModel.
	OpenAIModel   string
	Transport     http.RoundTripper // nil: http.DefaultTransport
	Model         string            // default DefaultModel
	Keys          *auth.Keyring     // opens sealed session credentials; nil: service credential only
	Blobs         auth.BlobSource   // the session credential registry (store.Store)
	Service       auth.Credential   // the operator's worker_credential, may be zero
	Logger        *zap.Logger
	MaxConcurrent int           // background synchronous calls at once, default 4
	CloseTimeout  time.Duration // grace for running calls in Close, default DefaultCloseTimeout
	// OnCall, when set, is told of every call Submit or Prompt routes, with
	// the call's kind and its route: "urgent" (made now), "batch" (enqueued)
	// or "sync" (the background pool). Metrics; must be cheap.
	OnCall func(kind, route string)
	// OnUsage, when set, is told of the usage of every synchronous call
	// made for a session that answered (urgent, background pool, and the
	// batch queue's synchronous runs), with the model that answered.
	// Per-person usage; it runs on the call's goroutine.
	OnUsage func(ctx context.Context, c Call, model string, u pricing.Usage)
}

type handler struct {
	apply Applier
	fail  Failer
}

// Worker makes the gateway's own LLM calls. Safe for concurrent use.
type Worker struct {
	cfg      Config
	endpoint string
	openAI   string // {openai_upstream}/v1/chat/completions
	client   *http.Client
	log      *zap.Logger

	mu       sync.RWMutex
	handlers map[string]handler
	queue    Enqueuer

	pool pool
}

// New builds a worker; it starts no goroutine until background work arrives.
func New(cfg Config) *Worker {
	if cfg.Upstream == nil {
		cfg.Upstream, _ = url.Parse(DefaultUpstream)
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.OpenAIUpstream == nil {
		cfg.OpenAIUpstream, _ = url.Parse(DefaultOpenAIUpstream)
	}
	if cfg.OpenAIModel == "" {
		cfg.OpenAIModel = DefaultOpenAIModel
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	w := &Worker{
		cfg:      cfg,
		endpoint: cfg.Upstream.JoinPath("v1", "messages").String(),
		openAI:   cfg.OpenAIUpstream.JoinPath("v1", "chat", "completions").String(),
		client:   &http.Client{Transport: cfg.Transport},
		log:      cfg.Logger,
		handlers: map[string]handler{},
	}
	w.pool.init(w, cfg.MaxConcurrent)
	return w
}

// Model is the worker model used when a call names none.
func (w *Worker) Model() string { return w.cfg.Model }

// Handle registers how results (and failures) of calls of one kind are
// applied. A later registration for the same kind replaces the earlier one.
func (w *Worker) Handle(kind string, apply Applier, fail Failer) {
	w.mu.Lock()
	w.handlers[kind] = handler{apply, fail}
	w.mu.Unlock()
}

// SetQueue plugs in the batch queue for non-urgent calls; nil runs them in
// the background pool instead.
func (w *Worker) SetQueue(q Enqueuer) {
	w.mu.Lock()
	w.queue = q
	w.mu.Unlock()
}

func (w *Worker) handler(kind string) (handler, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	h, ok := w.handlers[kind]
	return h, ok
}

// Submit runs one call. Every call Submit accepts ends in exactly one Apply
// or Fail of its kind's handlers, and every error Submit returns has already
// been reported to Fail, so callers release their guards in one place.
//
//   - Urgent: the call is made now, on the caller's goroutine, and applied;
//     the call's or the applier's error is returned.
//   - Non-urgent: the session's credential is resolved now (the batch queue
//     bills the item to that snapshot, docs/batch-queue.md) and the call is enqueued, or,
//     without a queue, run by the bounded background pool. The result is
//     applied later; Submit returns nil once the call is accepted.
//
// With no credential for the session the call is not made: a warning is
// logged, Fail is told, and ErrNoCredential is returned.
func (w *Worker) Submit(ctx context.Context, c Call) error {
	cred, err := w.Credential(ctx, c.SessionID)
	if err != nil {
		w.Fail(ctx, c, err)
		return err
	}
	if c.Urgent {
		w.observe(c.Kind, label.CallUrgent)
		text, err := w.Do(ctx, c, cred)
		if err != nil {
			w.Fail(ctx, c, err)
			return err
		}
		return w.Apply(ctx, c, text)
	}
	w.mu.RLock()
	q := w.queue
	w.mu.RUnlock()
	if q != nil {
		err := q.Enqueue(ctx, c, cred)
		if err == nil {
			w.observe(c.Kind, label.CallBatch)
			return nil
		}
		// The queue lives in Redis; if it cannot take the item the work
		// still has value, and the credential is already resolved.
		w.log.Warn("worker call not enqueued; running it in the background",
			zap.String("kind", c.Kind), zap.String("session", c.SessionID), zap.Error(err))
	}
	if err := w.pool.submit(job{call: c, cred: cred}); err != nil {
		w.Fail(ctx, c, err)
		return err
	}
	w.observe(c.Kind, label.CallSync)
	return nil
}

func (w *Worker) observe(kind, route string) {
	if w.cfg.OnCall != nil {
		w.cfg.OnCall(kind, route)
	}
}

// Prompt resolves the session's credential and makes the call now, returning
// its text without any applier (compaction summaries, whose caller waits for
// the text). ErrNoCredential is logged as Submit does.
func (w *Worker) Prompt(ctx context.Context, c Call) (string, error) {
	cred, err := w.Credential(ctx, c.SessionID)
	if err != nil {
		return "", err
	}
	w.observe(c.Kind, label.CallUrgent)
	return w.Do(ctx, c, cred)
}

// Credential resolves the credential background work of a session is billed
// to: the session's own, else the operator's service credential (docs/sessions-and-identity.md,
// Whose credential pays for background work).
// With neither it logs a warning (no secret in it) and returns
// ErrNoCredential; a registry read error is returned as is, never replaced by
// the service credential, since the session may well have one of its own.
func (w *Worker) Credential(ctx context.Context, sessionID string) (auth.Credential, error) {
	var (
		cred   auth.Credential
		source = auth.SourceNone
		err    error
	)
	if w.cfg.Keys != nil {
		cred, source, err = w.cfg.Keys.Resolve(ctx, sessionID, w.cfg.Blobs, w.cfg.Service)
	} else if !w.cfg.Service.IsZero() {
		cred, source = w.cfg.Service, auth.SourceService
	}
	if err != nil {
		return auth.Credential{}, fmt.Errorf("llm: resolving the credential of session %s: %w", sessionID, err)
	}
	if source == auth.SourceNone || cred.IsZero() {
		w.log.Warn("worker call skipped: no session credential and no worker_credential",
			zap.String("session", sessionID))
		return auth.Credential{}, ErrNoCredential
	}
	w.log.Debug("worker credential resolved", zap.String("session", sessionID), zap.String("source", string(source)))
	return cred, nil
}

// Apply hands a call's text to the Applier of its kind. If there is none, or
// it fails, the kind's Failer is told as well, so the batch queue only has to
// call Apply for a succeeded row and Fail for any other.
func (w *Worker) Apply(ctx context.Context, c Call, text string) error {
	h, ok := w.handler(c.Kind)
	if !ok || h.apply == nil {
		err := fmt.Errorf("%w %q", ErrNoHandler, c.Kind)
		w.log.Error("worker result dropped", zap.String("kind", c.Kind), zap.String("session", c.SessionID), zap.Error(err))
		return err
	}
	if err := h.apply(ctx, c, text); err != nil {
		w.log.Warn("worker result not applied", zap.String("kind", c.Kind), zap.String("session", c.SessionID), zap.Error(err))
		if h.fail != nil {
			h.fail(ctx, c, err)
		}
		return err
	}
	return nil
}

// Fail tells the kind's Failer that the call failed for good.
func (w *Worker) Fail(ctx context.Context, c Call, err error) {
	if !errors.Is(err, ErrNoCredential) {
		w.log.Warn("worker call failed", zap.String("kind", c.Kind), zap.String("session", c.SessionID), zap.Error(err))
	}
	if h, ok := w.handler(c.Kind); ok && h.fail != nil {
		h.fail(ctx, c, err)
	}
}

// Close stops accepting background work, fails the calls still waiting for
// a slot (ErrClosed, so their guards are released), and waits for running
// calls: up to CloseTimeout, then they are cancelled and waited for.
func (w *Worker) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.CloseTimeout)
	defer cancel()
	w.Shutdown(ctx)
}

// Shutdown is Close with the caller's deadline.
func (w *Worker) Shutdown(ctx context.Context) { w.pool.shutdown(ctx) }
