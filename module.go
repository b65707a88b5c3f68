// Package lore is caddy-lore: a Caddy v2 HTTP handler that turns a site into a
// context-managing gateway for coding agents in front of the Anthropic (and
// OpenAI) API. This file is the Caddy module: configuration, lifecycle and the
// hand-off of each request to handler/.
package lore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/handler"
	"github.com/caddy-lore/caddy-lore/idle"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/metrics"
	"github.com/caddy-lore/caddy-lore/recall"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

func init() {
	caddy.RegisterModule(Lore{})
}

// Defaults (docs/configuration.md, Directive).
const (
	DefaultUpstream       = llm.DefaultUpstream
	DefaultOpenAIUpstream = llm.DefaultOpenAIUpstream
	DefaultMaxBody        = "32MiB"
	DefaultRetention      = "720h"
	DefaultIdleResume     = "5m"
	DefaultIdleTimeout    = "60s"
	DefaultParseCache     = "64MiB"
)

// Lore is the `http.handlers.lore` module. Durations and sizes are strings so
// that `{env.*}` placeholders work in them too; they are resolved in Provision.
type Lore struct {
	// Anthropic-compatible upstream base URL. Default https://api.anthropic.com.
	Upstream string `json:"upstream,omitempty"`
	// OpenAI-compatible upstream base URL. Default https://api.openai.com.
	OpenAIUpstream string `json:"openai_upstream,omitempty"`
	// Redis connection; nil runs the embedded in-process store.
	Redis *RedisConfig `json:"redis,omitempty"`
	// Secret (≥ 32 characters) from which credential encryption and hashing
	// keys are derived. Required with an external Redis.
	CredentialKey string `json:"credential_key,omitempty"`
	// Earlier credential keys, newest first, tried when a sealed credential
	// does not open with CredentialKey, so a key can be rotated without
	// losing sessions; the last one names sessions (see auth.WithPrevious
	// and docs/operations.md, Rotating `credential_key`).
	OldCredentialKeys []string `json:"old_credential_keys,omitempty"`
	// Operator's service credential for background work of sessions that have
	// none: "<key>" (api-key) or "bearer <token>".
	WorkerCredential string `json:"worker_credential,omitempty"`
	// How long after its last turn a session's prompt cache counts as cold, so
	// its next turn gets a compact window (docs/context-window.md, Idle work
	// and post-idle compaction). Default "5m"; "0" disables.
	IdleResume string `json:"idle_resume,omitempty"`
	// How long after its last request a session is idle, so its pending
	// messages are distilled while the user is away, once per idle period
	// (docs/context-window.md, Idle work and post-idle compaction). Default
	// "60s"; "0" disables idle work.
	IdleTimeout string `json:"idle_timeout,omitempty"`
	// Model for the gateway's own calls (distillation, compaction). Default
	// claude-haiku-4-5.
	WorkerModel string `json:"worker_model,omitempty"`
	// Model for the gateway's own calls on behalf of sessions whose
	// credential belongs to openai_upstream (a non-Claude model on
	// /v1/chat/completions). Default gpt-5-mini.
	OpenAIWorkerModel string `json:"openai_worker_model,omitempty"`
	// Who the caller is, usually a request placeholder set by what the
	// operator put in front ({http.request.header.X-Forwarded-User} from
	// forward_auth, {http.auth.user.id}, a client certificate's subject),
	// evaluated per request. When set, sessions, lineages, knowledge and
	// recall live under the person's namespace instead of the credential's,
	// and a request whose identity is empty gets 401. Default: none.
	Identity string `json:"identity,omitempty"`
	// Background LLM work through the Message Batches API
	// (docs/batch-queue.md); nil means on with the defaults.
	Batching *BatchingConfig `json:"batching,omitempty"`
	// Long-term knowledge (docs/knowledge-and-recall.md): "on" (default)
	// curates durable project knowledge from sessions every 3 turns and on
	// idle, and injects the most relevant entries into each session's system
	// prompt; "off" does neither.
	Knowledge string `json:"knowledge,omitempty"`
	// The recall tool (docs/knowledge-and-recall.md, Recall): "on" (default)
	// offers the model a `recall` tool on /v1/messages turns that have tools,
	// searching the session's history, distillations and knowledge, and
	// answers it inside the gateway; "off" offers nothing.
	Recall string `json:"recall,omitempty"`
	// Memory for recent conversations' decoded messages, so a turn decodes
	// only what its client added since the previous one, e.g. "64MiB"
	// (default); "0" turns it off.
	ParseCache string `json:"parse_cache,omitempty"`
	// Largest request body accepted, e.g. "32MiB" (default).
	MaxBody string `json:"max_body,omitempty"`
	// How long sessions and their data are kept after their last turn, e.g.
	// "720h" (default, 30 days).
	Retention string `json:"retention,omitempty"`
	// DisableMetrics registers no Prometheus collectors and counts nothing
	// (as caddy-ratelimit's option of that name).
	DisableMetrics bool `json:"disable_metrics,omitempty"`

	handler *handler.Handler
	store   *store.Store
	worker  *llm.Worker
	queue   *batching.Queue
	idle    *idle.Scheduler
	metrics *metrics.Metrics
	usage   usage.WorkerCounter
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Lore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.lore",
		New: func() caddy.Module { return new(Lore) },
	}
}

// Provision resolves placeholders, applies defaults, opens the shared Redis
// client and builds the request handler.
func (l *Lore) Provision(ctx caddy.Context) error {
	l.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	resolve := func(s string) string { return repl.ReplaceKnown(s, "") }

	upstream, err := parseUpstream("upstream", orDefault(resolve(l.Upstream), DefaultUpstream))
	if err != nil {
		return err
	}
	openaiUpstream, err := parseUpstream("openai_upstream", orDefault(resolve(l.OpenAIUpstream), DefaultOpenAIUpstream))
	if err != nil {
		return err
	}
	maxBody, err := parseSize(orDefault(resolve(l.MaxBody), DefaultMaxBody))
	if err != nil {
		return err
	}
	retention, err := parseDuration("retention", orDefault(resolve(l.Retention), DefaultRetention))
	if err != nil {
		return err
	}
	if retention <= 0 {
		return fmt.Errorf("retention must be positive")
	}
	idleResume, err := parseDuration("idle_resume", orDefault(resolve(l.IdleResume), DefaultIdleResume))
	if err != nil {
		return err
	}
	if idleResume < 0 {
		return fmt.Errorf("idle_resume must not be negative (0 disables it)")
	}
	idleTimeout, err := parseDuration("idle_timeout", orDefault(resolve(l.IdleTimeout), DefaultIdleTimeout))
	if err != nil {
		return err
	}
	if idleTimeout < 0 {
		return fmt.Errorf("idle_timeout must not be negative (0 disables idle work)")
	}
	workerCred, err := parseWorkerCredential(resolve(l.WorkerCredential))
	if err != nil {
		return err
	}
	knowledgeOn, err := parseOnOff("knowledge", orDefault(resolve(l.Knowledge), "on"))
	if err != nil {
		return err
	}
	recallOn, err := parseOnOff("recall", orDefault(resolve(l.Recall), "on"))
	if err != nil {
		return err
	}
	parseCache, err := parseCacheSize(orDefault(resolve(l.ParseCache), DefaultParseCache))
	if err != nil {
		return err
	}

	var cfg store.Config
	if l.Redis != nil {
		if cfg, err = l.Redis.resolve(resolve); err != nil {
			return err
		}
	}
	secret := resolve(l.CredentialKey)
	if secret == "" && !cfg.Embedded() {
		return errors.New("credential_key is required with an external redis " +
			"(at least 32 characters, e.g. `credential_key {env.LORE_CREDENTIAL_KEY}` with 64 hex digits)")
	}
	l.store, err = store.Open(cfg, l.logger.Named("store"))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if secret == "" {
		// The embedded store's own random secret lives exactly as long as its
		// data, so reloads keep reaching the same sessions.
		secret = l.store.EmbeddedSecret()
	}
	keys, err := auth.NewKeyring(secret)
	if err != nil {
		return fmt.Errorf("credential_key: %w", err)
	}
	if keys, err = l.rotatedKeyring(keys, resolve); err != nil {
		return err
	}

	if !l.DisableMetrics { // a nil *metrics.Metrics counts nothing
		if l.metrics, err = metrics.Register(ctx.GetMetricsRegistry()); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	transport := handler.NewTransport()
	l.usage = usage.WorkerCounter{Store: l.store, Retention: retention, Log: l.logger.Named("usage")}
	l.worker = llm.New(llm.Config{
		OnCall:    l.metrics.WorkerCall,
		OnUsage:   l.usage.Sync,
		Upstream:  upstream,
		Transport: transport,
		Model:     orDefault(resolve(l.WorkerModel), llm.DefaultModel),
		// Sessions whose credential belongs to openai_upstream have their
		// worker calls made there, never on upstream
		// (docs/sessions-and-identity.md, Provider binding).
		OpenAIUpstream: openaiUpstream,
		OpenAIModel:    orDefault(resolve(l.OpenAIWorkerModel), llm.DefaultOpenAIModel),
		Keys:           keys,
		Blobs:          l.store,
		Service:        workerCred,
		Logger:         l.logger.Named("worker"),
	})
	if l.queue, err = l.startQueue(resolve, upstream, openaiUpstream, transport, keys, retention); err != nil {
		return err
	}
	distiller := distill.New(distill.Config{Store: l.store, Worker: l.worker, Logger: l.logger.Named("distill")})
	var curator *knowledge.Curator
	var knowledgeHook handler.Knowledge // a nil *Curator would not be a nil Knowledge
	if knowledgeOn {
		curator = knowledge.New(knowledge.Config{Store: l.store, Worker: l.worker, Logger: l.logger.Named("knowledge"), EntryTTL: retention})
		knowledgeHook = curator
	}
	var recaller handler.Recaller
	if recallOn {
		recaller = recall.Searcher{Store: l.store, Log: l.logger.Named("recall")}
	}
	if idleTimeout > 0 {
		// Idle work (docs/context-window.md, Idle work and post-idle
		// compaction): everything pending distilled, then curation and
		// consolidation, through the batch queue; a busy distillation guard
		// defers it (idle.ErrRetry).
		l.idle = idle.New(idle.Config{
			Store: idle.NewActiveSet(l.store),
			Work: func(ctx context.Context, sid string) error {
				res, err := distiller.Idle(ctx, sid)
				if err == nil && res.Busy {
					return idle.ErrRetry
				}
				if err == nil && curator != nil {
					err = curator.Idle(ctx, sid)
				}
				return err
			},
			IdleTimeout: idleTimeout,
			Logger:      l.logger.Named("idle"),
		})
		l.idle.Start(ctx)
	}

	l.handler = handler.New(handler.Config{
		Transport:        transport,
		Context:          ctx, // the work turns leave for later stops with this instance
		Distiller:        distiller,
		Knowledge:        knowledgeHook,
		Recall:           recaller,
		DecodeCacheBytes: parseCache,
		Upstream:         upstream,
		OpenAIUpstream:   openaiUpstream,
		MaxBody:          maxBody,
		Retention:        retention,
		Store:            l.store,
		Keys:             keys,
		WorkerCredential: workerCred,
		Identity:         identityFunc(resolve(l.Identity)),
		IdleResume:       idleResume,
		Logger:           l.logger,
		Observer:         l.metrics,
	})
	l.metrics.SetQueueSource(l, l.queueGauges)
	registerInstance(l)
	return nil
}

// Validate rejects configurations that cannot work. It runs after Provision.
func (l *Lore) Validate() error {
	if l.handler == nil {
		return errors.New("lore: not provisioned")
	}
	return nil
}

// Cleanup releases the shared Redis client and idle upstream connections. It
// copes with a Provision that failed half way.
func (l *Lore) Cleanup() error {
	unregisterInstance(l)
	l.metrics.ClearQueueSource(l) // nil-safe
	if l.handler != nil {
		l.handler.Close() // waits for turns' deferred commits
	}
	l.idle.Stop() // before the queue its work enqueues into; nil-safe
	if l.queue != nil {
		// Timers stop; queued items stay in Redis for the next instance
		// (with the embedded store they run synchronously first).
		ctx, cancel := context.WithTimeout(context.Background(), queueStopTimeout)
		if err := l.queue.Stop(ctx); err != nil {
			l.logger.Warn("batch queue did not stop cleanly", zap.Error(err))
		}
		cancel()
	}
	if l.worker != nil {
		l.worker.Close()
	}
	if l.store != nil {
		return l.store.Close()
	}
	return nil
}

// ServeHTTP hands the request to the handler.
func (l *Lore) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return l.handler.ServeHTTP(w, r, next)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Lore)(nil)
	_ caddy.Validator             = (*Lore)(nil)
	_ caddy.CleanerUpper          = (*Lore)(nil)
	_ caddyhttp.MiddlewareHandler = (*Lore)(nil)
)

func caddyDuration(d time.Duration) caddy.Duration { return caddy.Duration(d) }
