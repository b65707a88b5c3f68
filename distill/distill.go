// Package distill keeps long conversations inside the context window by
// replacing old history with LLM-written observations (docs/context-window.md, Distillation): it
// splits undistilled messages into segments, has the worker distil each one
// into an <observations> block, folds many rows into a meta row, and writes
// compaction summaries from the rows. All its state is in Redis, in the
// session's keys (its rows, watermark and guard: rows.go and
// rows_scripts.go, reached through store.Store), so any instance can
// trigger, apply or read it.
package distill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// Worker call kinds.
const (
	KindDistill = "distill"
	KindMeta    = "meta"
	KindCompact = "compact"
)

// Thresholds (docs/context-window.md, Distillation).
const (
	MinMessages        = 5    // a non-forced run needs this many undistilled messages
	MaxSegment         = 30   // messages per segment; also the post-turn trigger
	MinSegment         = 3    // a trailing segment shorter than this joins the previous one
	MaxRounds          = 3    // rounds of an inline (urgent) run
	MetaThreshold      = 10   // live gen-0 rows that trigger a meta-distillation
	ToolOutputMaxChars = 2000 // longer tool outputs are rendered as a strip annotation
	GapFactor          = 3    // a time gap this many times the median splits segments
	metaMinFresh       = 3    // gen-0 rows a first meta-distillation needs
	metaMinAnchored    = 1    // gen-0 rows a meta-distillation over a prior meta needs
	newestLayerUrgent  = 2    // AfterTurn: this layer or higher distils urgently
	defaultGuardTTL    = 90 * time.Minute
	defaultCacheTTL    = 5 * time.Minute
)

// Errors.
var (
	// ErrEmpty: the worker's answer held no observations (or no summary).
	ErrEmpty = errors.New("distill: empty result")
	// ErrBadRef: a call's Ref does not decode (a foreign or corrupt item).
	ErrBadRef = errors.New("distill: malformed call reference")
	// ErrBusy: an urgent distillation did nothing because another urgent
	// run of the session is in progress (Result.Busy, for callers that only
	// pass an error on).
	ErrBusy = errors.New("distill: another urgent distillation of the session is in progress")
)

// Worker is what the distiller needs of llm.Worker.
type Worker interface {
	Handle(kind string, apply llm.Applier, fail llm.Failer)
	Submit(ctx context.Context, c llm.Call) error
	Prompt(ctx context.Context, c llm.Call) (string, error)
}

// Config configures a Distiller.
type Config struct {
	Store  *store.Store
	Worker Worker
	Model  string // worker model for distillation; "" uses the worker's default
	Logger *zap.Logger
	// Location renders message times (HH:MM) and the session date; nil is
	// time.Local, as the reference renders local time.
	Location *time.Location
	Now      func() time.Time // nil is time.Now
	// GuardTTL bounds how long a run holds the session's in-flight guard
	// without news (each submitted call refreshes it). It must outlast the
	// slowest result: with batching, flush + max_age + a synchronous
	// fallback; the default, 90 min, covers the 30 s / 1 h defaults. It is
	// also how long a crash mid-run can keep a session from distilling (in
	// the background only, if the crashed run was non-urgent: urgent runs
	// go ahead beside non-urgent ones).
	GuardTTL time.Duration
	// CacheTTL is the provider's prompt-cache lifetime for the skipMeta gate
	// (docs/context-window.md, Distillation): a post-turn run does not meta-distil while the
	// session's cache is warm, because a meta row rewrites the distilled
	// prefix and costs a cache write. Default 5 min.
	CacheTTL time.Duration
}

// Distiller runs distillations. Safe for concurrent use; create one per
// worker (New registers its result handlers on it).
type Distiller struct {
	cfg Config
	st  *store.Store
	w   Worker
	log *zap.Logger
}

// Result describes what a trigger did.
type Result struct {
	Busy      bool // another run holds the session's guard (for an urgent run: another urgent run); nothing was done
	Joined    bool // an urgent run went ahead beside a non-urgent run whose calls are still out
	Rounds    int  // rounds that submitted segments
	Segments  int  // distillation calls submitted (urgent: made and applied or failed)
	Messages  int  // messages in those segments
	Distilled int  // messages whose rows were stored before the trigger returned (urgent runs)
	Meta      bool // a meta-distillation was submitted
}

// New builds a distiller and registers the "distill" and "meta" result
// handlers on cfg.Worker.
func New(cfg Config) *Distiller {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GuardTTL <= 0 {
		cfg.GuardTTL = defaultGuardTTL
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	d := &Distiller{cfg: cfg, st: cfg.Store, w: cfg.Worker, log: cfg.Logger}
	d.w.Handle(KindDistill, d.applySegment, d.failSegment)
	d.w.Handle(KindMeta, d.applyMeta, d.failMeta)
	return d
}

// AfterTurn is the post-response trigger (docs/context-window.md,
// Distillation): a turn that needed
// layer 2 or higher gets an urgent forced distillation, inline; otherwise a
// background (batchable) distillation starts once MaxSegment messages are
// undistilled. Both respect the in-flight guard: the background one waits
// for any run to end, the urgent one only for another urgent run (it does
// not wait for batched calls; see run.go).
func (d *Distiller) AfterTurn(ctx context.Context, sessionID string, layer int) (Result, error) {
	if layer >= newestLayerUrgent {
		return d.run(ctx, sessionID, runOpts{force: true, urgent: true})
	}
	n, err := UndistilledCount(ctx, d.st, sessionID)
	if err != nil || n < MaxSegment {
		return Result{}, err
	}
	return d.run(ctx, sessionID, runOpts{metaIfCold: true})
}

// Idle is the idle trigger (docs/context-window.md, Idle work and post-idle
// compaction): every pending message is distilled,
// even fewer than MinMessages, and meta-distillation is allowed whatever the
// cache (it is going cold anyway). The calls are non-urgent.
func (d *Distiller) Idle(ctx context.Context, sessionID string) (Result, error) {
	return d.run(ctx, sessionID, runOpts{force: true})
}

// Rows returns the session's live rows, oldest first, as the gradient
// consumes them: the one conversion from the stored row, whose coverage
// fields only distillation and recall need.
func (d *Distiller) Rows(ctx context.Context, sessionID string) ([]gradient.Distillation, error) {
	rows, err := LiveRows(ctx, d.st, sessionID)
	if err != nil {
		return nil, err
	}
	return ForGradient(rows), nil
}

// ForGradient is the gradient's view of stored distillation rows (the
// coverage fields stay with the stored rows, for recall and the admin API).
func ForGradient(rows []Row) []gradient.Distillation {
	if len(rows) == 0 {
		return nil
	}
	out := make([]gradient.Distillation, len(rows))
	for i, r := range rows {
		out[i] = gradient.Distillation{ID: r.ID, Generation: r.Generation, Observations: r.Observations}
	}
	return out
}

// newID returns 32 random hex digits, for row ids and guard tokens.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
