package lore

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/metrics/label"
)

// queueStopTimeout bounds Cleanup's wait for the batch queue (with the
// embedded store it runs the queued items synchronously first).
const queueStopTimeout = 30 * time.Second

// BatchingConfig is the `batching` option. Durations are strings so that
// `{env.*}` works in them; empty means the default (docs/configuration.md,
// Directive; docs/batch-queue.md).
type BatchingConfig struct {
	// Off sends every worker call synchronously; no batch endpoint is called.
	Off           bool        `json:"off,omitempty"`
	FlushInterval string      `json:"flush_interval,omitempty"` // default 30s
	MaxItems      configValue `json:"max_items,omitempty"`      // default 50, 1..100000
	PollInterval  string      `json:"poll_interval,omitempty"`  // default 60s
	MaxAge        string      `json:"max_age,omitempty"`        // default 1h
}

// startQueue builds and starts the batch queue and plugs it behind the
// worker, or returns nil when batching is off. Its timers run on a
// background context: Caddy cancels a module's context before Cleanup, and
// the queue treats a canceled context as a crash (leases left to expire)
// rather than a graceful stop, which Cleanup does with Stop.
func (l *Lore) startQueue(resolve func(string) string, upstream, openaiUpstream *url.URL, transport http.RoundTripper, keys *auth.Keyring, retention time.Duration) (*batching.Queue, error) {
	b := l.Batching
	if b != nil && b.Off {
		return nil, nil
	}
	// Each (provider, credential) group is batched by its own provider:
	// Message Batches on upstream, the OpenAI Batch API on openai_upstream.
	cfg := batching.Config{Upstream: upstream, OpenAIUpstream: openaiUpstream, Transport: transport, Keys: keys, Store: l.store, Logger: l.logger.Named("batching"),
		Retention:  retention,
		OnFallback: func(kind string) { l.metrics.WorkerCall(kind, label.CallFallback) }, OnUsage: l.usage.Batch}
	if b != nil {
		var err error
		for _, d := range []struct {
			name string
			raw  string
			dst  *time.Duration
		}{
			{"batching flush_interval", b.FlushInterval, &cfg.FlushInterval},
			{"batching poll_interval", b.PollInterval, &cfg.PollInterval},
			{"batching max_age", b.MaxAge, &cfg.MaxAge},
		} {
			if raw := resolve(d.raw); raw != "" {
				if *d.dst, err = parseDuration(d.name, raw); err != nil {
					return nil, err
				}
				if *d.dst <= 0 {
					return nil, fmt.Errorf("%s must be positive", d.name)
				}
			}
		}
		if cfg.MaxItems, err = parseMaxItems(resolve(string(b.MaxItems))); err != nil {
			return nil, err
		}
	}
	q, err := batching.New(cfg, l.worker)
	if err != nil {
		return nil, err
	}
	l.worker.SetQueue(q)
	q.Start(context.Background())
	return q, nil
}

// parseBatching reads `batching off` or a block of batching options.
func parseBatching(d *caddyfile.Dispenser) (*BatchingConfig, error) {
	b := &BatchingConfig{}
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.Err("batching: expected `off` or a block")
		}
		b.Off = true
		return b, nil
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("batching: %s specified more than once", name)
		}
		seen[name] = true
		var v string
		if !d.Args(&v) || d.NextArg() {
			return nil, d.ArgErr()
		}
		switch name {
		case "flush_interval", "poll_interval", "max_age":
			if err := checkPositiveDuration("batching "+name, v); err != nil {
				return nil, d.Err(err.Error())
			}
			switch name {
			case "flush_interval":
				b.FlushInterval = v
			case "poll_interval":
				b.PollInterval = v
			default:
				b.MaxAge = v
			}
		case "max_items":
			if !hasPlaceholder(v) {
				if _, err := parseMaxItems(v); err != nil {
					return nil, d.Err(err.Error())
				}
			}
			b.MaxItems = configValue(v)
		default:
			return nil, d.Errf("unrecognized batching option %q", name)
		}
	}
	return b, nil
}

// parseMaxItems reads max_items: an integer in 1..100000, or "" for the
// default (0 to batching.New).
func parseMaxItems(raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > batching.MaxItemsLimit {
		return 0, fmt.Errorf("batching: max_items must be an integer in 1..%d, got %q", batching.MaxItemsLimit, raw)
	}
	return n, nil
}

// checkPositiveDuration validates a literal duration at adapt time;
// placeholders are checked in Provision.
func checkPositiveDuration(name, v string) error {
	if len(v) > 0 && v[0] == '{' {
		return nil
	}
	dur, err := parseDuration(name, v)
	if err != nil {
		return err
	}
	if dur <= 0 {
		return fmt.Errorf("%s must be positive, got %q", name, v)
	}
	return nil
}
