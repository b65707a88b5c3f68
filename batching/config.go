package batching

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

// Defaults (docs/batch-queue.md; the `batching` block of
// docs/configuration.md, Directive).
const (
	DefaultFlushInterval = 30 * time.Second
	DefaultMaxItems      = 50
	DefaultPollInterval  = 60 * time.Second
	DefaultMaxAge        = time.Hour
	DefaultRefusedTTL    = 24 * time.Hour
	DefaultUpstream      = "https://api.anthropic.com"

	// MaxItemsLimit is the Batches API's limit of requests per batch.
	MaxItemsLimit = 100000
)

// Config configures a Queue. Zero values mean the defaults.
type Config struct {
	FlushInterval time.Duration // flush the queue this often (30s)
	MaxItems      int           // flush as soon as this many items are queued (50; 1..100000)
	PollInterval  time.Duration // poll each in-flight batch this often (60s)
	MaxAge        time.Duration // abandon a batch this old and run its items synchronously (1h)
	RefusedTTL    time.Duration // remember a credential the batch API refused this long (24h)
	// Retention is the gateway's retention: an item older than it is
	// dropped instead of run or applied, and a session's batch usage key
	// lives this long (store.DefaultRetention when 0).
	Retention time.Duration

	Upstream *url.URL // Anthropic-compatible upstream (https://api.anthropic.com)
	// OpenAIUpstream is where groups of OpenAI-provider credentials are
	// batched (the OpenAI Batch API: files, batches, output file). nil runs
	// their items synchronously instead.
	OpenAIUpstream *url.URL
	Transport      http.RoundTripper // http.DefaultTransport when nil

	Keys       *auth.Keyring // seals the per-item credential snapshots; required
	Store      *store.Store  // required
	Logger     *zap.Logger
	InstanceID string // names this instance in leases and logs; random when empty
	// OnFallback, when set, is told of every call the queue runs
	// synchronously instead of in a batch (with the call's kind). Metrics.
	OnFallback func(kind string)
	// OnUsage, when set, is told of every succeeded batch row of a session
	// with its model and usage (billed at the batch price). Per-person
	// usage; synchronous runs are reported by the worker itself.
	OnUsage func(ctx context.Context, sessionID, model string, u pricing.Usage)
}

// Validate rejects nonsense; it does not apply defaults (0 means default).
func (c Config) Validate() error {
	switch {
	case c.FlushInterval < 0:
		return errors.New("batching: flush_interval is negative")
	case c.PollInterval < 0:
		return errors.New("batching: poll_interval is negative")
	case c.MaxAge < 0:
		return errors.New("batching: max_age is negative")
	case c.RefusedTTL < 0:
		return errors.New("batching: refused TTL is negative")
	case c.Retention < 0:
		return errors.New("batching: retention is negative")
	case c.MaxItems < 0 || c.MaxItems > MaxItemsLimit:
		return fmt.Errorf("batching: max_items %d is outside 1..%d", c.MaxItems, MaxItemsLimit)
	case c.Upstream != nil && (c.Upstream.Scheme != "http" && c.Upstream.Scheme != "https" || c.Upstream.Host == ""):
		return fmt.Errorf("batching: upstream %q is not an http(s) URL", c.Upstream.Redacted())
	case c.OpenAIUpstream != nil && (c.OpenAIUpstream.Scheme != "http" && c.OpenAIUpstream.Scheme != "https" || c.OpenAIUpstream.Host == ""):
		return fmt.Errorf("batching: openai upstream %q is not an http(s) URL", c.OpenAIUpstream.Redacted())
	case c.Keys == nil:
		return errors.New("batching: no keyring")
	case c.Store == nil:
		return errors.New("batching: no store")
	}
	return nil
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MaxItems == 0 {
		c.MaxItems = DefaultMaxItems
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.RefusedTTL == 0 {
		c.RefusedTTL = DefaultRefusedTTL
	}
	if c.Retention == 0 {
		c.Retention = store.DefaultRetention
	}
	// The refusal key names a credential's group: it expires with the
	// gateway's retention at the latest, like everything about a person.
	c.RefusedTTL = min(c.RefusedTTL, c.Retention)
	if c.Upstream == nil {
		c.Upstream, _ = url.Parse(DefaultUpstream)
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Internal tunables; tests shorten them.
type tunables struct {
	leaseTTL       time.Duration // a lease not renewed for this long is free
	httpTimeout    time.Duration // one upstream call
	maxBatchBytes  int64         // item bytes per upstream batch (the API allows 256 MB of requests)
	takeChunk      int           // items per take (one script, which must end within the Redis read timeout), i.e. per batch
	takeRounds     int           // take calls per flush pass
	syncLimit      int           // synchronous runs at a time
	reconcileSkew  time.Duration // clock slack when matching an upstream batch to a record
	reconcileTries int           // failed reconciliations before the items run synchronously
	reconcilePages int           // list pages read per reconciliation
}

func defaultTunables() tunables {
	return tunables{
		leaseTTL:       30 * time.Second,
		httpTimeout:    2 * time.Minute,
		maxBatchBytes:  128 << 20,
		takeChunk:      2000,
		takeRounds:     20,
		syncLimit:      5,
		reconcileSkew:  5 * time.Minute,
		reconcileTries: 3,
		reconcilePages: 50,
	}
}
