// Package knowledge is the gateway's long-term memory
// (docs/knowledge-and-recall.md): a curator that turns recent conversation into durable project
// knowledge entries (JSON create/update/delete ops from the worker model,
// every AfterTurns turns and on idle), consolidation when a project has too
// many entries, and the selection of the entries most relevant to a
// session, formatted for its system prompt within the LTM budget.
//
// Knowledge belongs to a credential namespace and, inside it, to a project
// (ProjectOf): it is shared by one person's sessions on one codebase and by
// nobody else. All state is in Redis (entries.go, store/keys_knowledge.go), so any
// instance can schedule, apply or read it.
package knowledge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// Worker call kinds.
const (
	KindCurate      = "curate"
	KindConsolidate = "consolidate"
)

// Thresholds (docs/knowledge-and-recall.md, Long-term knowledge).
const (
	AfterTurns     = 3  // turns between curations
	MinMessages    = 3  // a curation needs this many new messages
	MaxEntries     = 25 // a project with more live entries is consolidated on idle
	consolidateTo  = 20 // what consolidation asks for
	defaultGuard   = 90 * time.Minute
	defaultEntryTL = 90 * 24 * time.Hour
)

// ErrBadRef: a call's Ref does not decode (a foreign or corrupt item).
var ErrBadRef = errors.New("knowledge: malformed call reference")

// Worker is what the curator needs of llm.Worker.
type Worker interface {
	Handle(kind string, apply llm.Applier, fail llm.Failer)
	Submit(ctx context.Context, c llm.Call) error
}

// Config configures a Curator.
type Config struct {
	Store  *store.Store
	Worker Worker
	Model  string // worker model; "" uses the worker's default
	Logger *zap.Logger
	// GuardTTL bounds how long a curation holds its session's in-flight
	// guard (it must outlast a batched call, as distill.Config.GuardTTL).
	GuardTTL time.Duration
	// EntryTTL is how long a project's knowledge outlives its last
	// curation; default 90 days.
	EntryTTL time.Duration
	Now      func() time.Time // nil is time.Now
}

// Curator schedules and applies curation and consolidation and selects
// knowledge for sessions. Safe for concurrent use.
type Curator struct {
	cfg    Config
	st     *store.Store
	w      Worker
	log    *zap.Logger
	scopes scopeCache
}

// New builds a curator and registers the "curate" and "consolidate" result
// handlers on cfg.Worker.
func New(cfg Config) *Curator {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.GuardTTL <= 0 {
		cfg.GuardTTL = defaultGuard
	}
	if cfg.EntryTTL <= 0 {
		cfg.EntryTTL = defaultEntryTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Curator{cfg: cfg, st: cfg.Store, w: cfg.Worker, log: cfg.Logger}
	c.w.Handle(KindCurate, c.applyCurate, c.release)
	c.w.Handle(KindConsolidate, c.applyConsolidate, c.release)
	return c
}

// ref is what a curation or consolidation call carries to its applier.
type ref struct {
	Session   string `json:"session"`
	Namespace string `json:"ns"`
	Project   string `json:"project"`
	Token     string `json:"token"`
	Mark      int    `json:"mark,omitempty"`  // stored messages seen, after this curation
	Turns     int    `json:"turns,omitempty"` // turns since the last curation it covers
}

func decodeRef(c llm.Call) (ref, error) {
	var r ref
	if json.Unmarshal(c.Ref, &r) != nil || r.Session == "" || r.Namespace == "" || r.Project == "" || r.Token == "" {
		return r, ErrBadRef
	}
	return r, nil
}

// newID returns 32 hex digits that sort by creation time (a UUIDv7-like
// id: 48 bits of milliseconds, then randomness), for entries and tokens.
func newID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	return hex.EncodeToString(b[:])
}

// detached gives guard releases and writes after a call a context that a
// cancelled request or a stopping module does not cut short.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
