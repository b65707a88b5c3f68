package batching

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/background"
	"github.com/caddy-lore/caddy-lore/llm"
)

// Runner runs one worker call synchronously and applies results; the
// worker client (llm.Worker) implements it.
type Runner interface {
	// Do makes one synchronous Messages call with cred and returns the
	// first text block of the answer.
	Do(ctx context.Context, c llm.Call, cred auth.Credential) (string, error)
	// Params is the Messages request body of c (a batch request's params).
	Params(c llm.Call) json.RawMessage
	// ChatParams is the chat completions body of c (a line of an OpenAI
	// batch's input file), for calls billed to an OpenAI-provider credential.
	ChatParams(c llm.Call) json.RawMessage
	// Apply applies a result where it belongs (by c.Kind and c.SessionID).
	Apply(ctx context.Context, c llm.Call, text string) error
	// Fail tells the caller that c failed; the work is left to the normal
	// triggers.
	Fail(ctx context.Context, c llm.Call, err error)
}

// Queue is the durable batch queue. Safe for concurrent use.
type Queue struct {
	cfg    Config
	tun    tunables
	runner Runner
	log    *zap.Logger
	bq     *RedisQueue
	client *http.Client
	owner  string           // lease owner token: instance id + random
	now    func() time.Time // replaceable in tests

	sem      chan struct{} // synchronous runs at a time
	flushNow chan struct{}

	ctx      context.Context // ends on a crash (Start's context) or a hard stop
	cancel   context.CancelFunc
	stopping chan struct{} // closed by Stop
	stopOnce sync.Once
	started  atomic.Bool

	flushes, polls atomic.Int64 // passes completed (tests wait on them)

	mu     sync.Mutex
	active map[string]bool // records this process is working on
	// work runs the timers and the steps; Stop closes it (nothing new from
	// outside, what runs finishes) and waits.
	work *background.Group
}

var _ llm.Enqueuer = (*Queue)(nil)

// New makes a queue; Start starts its timers.
func New(cfg Config, r Runner) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("batching: no runner")
	}
	cfg = cfg.withDefaults()
	tok := make([]byte, 6)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	owner := hex.EncodeToString(tok)
	if cfg.InstanceID != "" {
		owner = sanitize(cfg.InstanceID, 64) + "-" + owner
	}
	ctx, cancel := context.WithCancel(context.Background())
	tun := defaultTunables()
	log := cfg.Logger.Named("batching")
	return &Queue{
		cfg:      cfg,
		tun:      tun,
		runner:   r,
		log:      log,
		bq:       NewRedisQueue(cfg.Store),
		client:   &http.Client{Transport: cfg.Transport},
		owner:    owner,
		now:      time.Now,
		sem:      make(chan struct{}, tun.syncLimit),
		flushNow: make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		stopping: make(chan struct{}),
		active:   make(map[string]bool),
		work:     background.New(ctx, log),
	}, nil
}

// Start starts the flush and poll timers; each also runs once right away, so
// a restarted instance picks up queued items and in-flight batches at once.
// When ctx ends without Stop, the queue stops as if the process had died:
// running steps abort, leases are left to expire.
func (q *Queue) Start(ctx context.Context) {
	if !q.started.CompareAndSwap(false, true) || q.isStopping() {
		return
	}
	if q.cfg.Store.Embedded() {
		// Registered before Start returns, so that the Stop of the instance
		// this one replaces (a config reload) sees it and leaves the queue
		// to it instead of running it synchronously.
		q.heartbeat(ctx)
	}
	context.AfterFunc(ctx, q.cancel)
	// Refused when Stop raced with Start.
	q.work.Go("flush loop", func(context.Context) { q.flushLoop() })
	q.work.Go("poll loop", func(context.Context) { q.pollLoop() })
}

// Stop stops the timers and waits for running steps to finish (until ctx
// ends; then they are aborted). With the embedded store it then runs the
// queued items synchronously. It is safe to call more than once.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopOnce.Do(func() { close(q.stopping) })
	q.work.Close()
	done := make(chan struct{})
	go func() { q.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		q.cancel()
		<-done
	}
	var err error
	if q.started.Load() {
		if uerr := q.bq.Unregister(ctx, q.owner); uerr != nil {
			q.log.Debug("batching: cannot unregister", zap.Error(uerr))
		}
	}
	if q.cfg.Store.Embedded() {
		// The embedded store dies with the process, unless another instance
		// lives on it (a config reload keeps the in-process store): then
		// that one carries on with the queue.
		others, ierr := q.bq.Instances(ctx, q.now())
		if ierr == nil && len(others) > 0 {
			q.log.Info("batching: another instance carries on with the queue", zap.Int("instances", len(others)))
		} else {
			err = q.drain(ctx)
		}
	}
	q.cancel()
	return err
}

// heartbeat registers this instance as live for three poll intervals plus
// a lease period.
func (q *Queue) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, q.tun.httpTimeout)
	defer cancel()
	until := q.now().Add(3*q.cfg.PollInterval + q.tun.leaseTTL)
	if err := q.bq.Register(ctx, q.owner, until); err != nil && ctx.Err() == nil {
		q.log.Debug("batching: cannot register the instance", zap.Error(err))
	}
}

// isStopping reports whether Stop was called.
func (q *Queue) isStopping() bool {
	select {
	case <-q.stopping:
		return true
	default:
		return false
	}
}

// recover logs a panic of a runner's callback (Params, Apply, Fail) or a
// lease's renewal instead of letting it take Caddy down.
func (q *Queue) recover(what string) {
	if r := recover(); r != nil {
		q.log.Error("batching: panic", zap.String("in", what), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
	}
}

// own marks a record as worked on by this process; false if it already is.
func (q *Queue) own(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active[id] {
		return false
	}
	q.active[id] = true
	return true
}

func (q *Queue) disown(id string) {
	q.mu.Lock()
	delete(q.active, id)
	q.mu.Unlock()
}

// trigger asks the flush loop for a flush now.
func (q *Queue) trigger() {
	select {
	case q.flushNow <- struct{}{}:
	default:
	}
}

// loop runs fn now and then at every tick (or extra signal) until Stop or
// a crash. A panic in one pass is logged and the loop goes on.
func (q *Queue) loop(what string, every time.Duration, extra <-chan struct{}, fn func()) {
	pass := func() {
		defer q.recover(what)
		fn()
	}
	pass()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-q.stopping:
			return
		case <-q.ctx.Done():
			return
		case <-t.C:
		case <-extra:
		}
		if q.isStopping() || q.ctx.Err() != nil {
			return
		}
		pass()
	}
}

func (q *Queue) flushLoop() { q.loop("flush", q.cfg.FlushInterval, q.flushNow, q.flushAll) }
func (q *Queue) pollLoop()  { q.loop("poll", q.cfg.PollInterval, nil, q.pollAll) }

// sanitize keeps [a-zA-Z0-9_] of s, at most n bytes.
func sanitize(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b = append(b, c)
		}
	}
	return string(b)
}
