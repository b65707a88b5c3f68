package idle

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/llmtest"
	"github.com/caddy-lore/caddy-lore/internal/storetest"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	sessionKey = "sk-ant-api03-idle-session-key-0001"
	secretKey  = "0123456789abcdef0123456789abcdef"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)

// clock is a fake clock shared by the sessions' turns and the schedulers,
// so a test decides when a session is idle; the tickers stay real.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// redisConfig is a fresh test Redis; the raw client inspects it.
func redisConfig(t *testing.T) (store.Config, *redis.Client) { return storetest.Config(t, "idle") }

// openStore opens a store handle (one per simulated instance).
func openStore(t *testing.T, cfg store.Config) *store.Store { return storetest.Open(t, cfg) }

// turn commits n messages of session sid (user and assistant in turn),
// last request at the clock's time, with the session's sealed credential.
func turn(t *testing.T, st *store.Store, keys *auth.Keyring, clk *clock, sid string, n int) {
	t.Helper()
	ctx := context.Background()
	sess, err := st.LoadSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	if sess == nil {
		sess = &store.Session{ID: sid, CreatedAt: clk.Now()}
		if keys != nil {
			cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: sessionKey}
			if blob, err = keys.Seal(cred, sid); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs := make([]store.StoredMessage, n)
	for i := range msgs {
		pos := sess.Stored + i
		role := "user"
		if pos%2 == 1 {
			role = "assistant"
		}
		content, _ := json.Marshal("message " + strconv.Itoa(pos))
		msgs[i] = store.StoredMessage{ID: "m" + strconv.Itoa(pos), Role: role, Position: pos, Content: content,
			At: clk.Now().Add(time.Duration(i) * time.Second).UnixMilli()}
	}
	sess.LastRequest = clk.Now()
	sess.Stored += n
	sess.MessageCount = sess.Stored
	sess.Turns++
	if err := st.CommitTurn(ctx, store.Turn{Session: sess, Messages: msgs, Credential: blob}); err != nil {
		t.Fatal(err)
	}
}

// countingStore counts the claims a scheduler makes (its ticks).
type countingStore struct {
	Store
	mu     sync.Mutex
	claims int
}

func (c *countingStore) ClaimIdle(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	c.mu.Lock()
	c.claims++
	c.mu.Unlock()
	return c.Store.ClaimIdle(ctx, cutoff, limit)
}

func (c *countingStore) Claims() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims
}

// ledger records Work calls per session and detects overlapping runs.
type ledger struct {
	mu       sync.Mutex
	runs     map[string]int
	inFlight map[string]int
	overlap  bool
	cur, max int
}

func newLedger() *ledger { return &ledger{runs: map[string]int{}, inFlight: map[string]int{}} }

func (l *ledger) begin(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs[sid]++
	l.inFlight[sid]++
	if l.inFlight[sid] > 1 {
		l.overlap = true
	}
	l.cur++
	l.max = max(l.max, l.cur)
}

func (l *ledger) end(sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight[sid]--
	l.cur--
}

func (l *ledger) count(sid string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[sid]
}

func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.runs {
		n += v
	}
	return n
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitTicks waits until the scheduler made n more claims than now.
func waitTicks(t *testing.T, cs *countingStore, n int) {
	t.Helper()
	want := cs.Claims() + n
	waitFor(t, strconv.Itoa(n)+" more ticks", func() bool { return cs.Claims() >= want })
}

// ---------------------------------------------------------------- a real distiller

// distillEnv is the real pipeline behind idle work: a distiller whose
// worker calls the fake upstream, with a recording batch queue.
type distillEnv struct {
	up   *fakeupstream.Server
	st   *store.Store
	keys *auth.Keyring
	w    *llm.Worker
	q    *queue
	d    *distill.Distiller
	clk  *clock
}

func newDistillEnv(t *testing.T) *distillEnv {
	t.Helper()
	up := fakeupstream.New(fakeupstream.Options{APIKeys: []string{sessionKey}})
	t.Cleanup(up.Close)
	cfg, _ := redisConfig(t)
	st := openStore(t, cfg)
	keys, err := auth.NewKeyring(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL())
	w := llm.New(llm.Config{Upstream: u, Keys: keys, Blobs: st})
	t.Cleanup(w.Close)
	q := &queue{}
	w.SetQueue(q)
	clk := &clock{now: t0}
	d := distill.New(distill.Config{Store: st, Worker: w, Location: time.UTC, Now: clk.Now})
	return &distillEnv{up: up, st: st, keys: keys, w: w, q: q, d: d, clk: clk}
}

// work is the module's Work function.
func (e *distillEnv) work(ctx context.Context, sid string) error {
	res, err := e.d.Idle(ctx, sid)
	if err == nil && res.Busy {
		return ErrRetry
	}
	return err
}

// drain delivers the queued calls (and those they queue) as the batch
// queue would: with the snapshot credential, then Apply or Fail.
func (e *distillEnv) drain(t *testing.T) []llm.Call {
	t.Helper()
	ctx := context.Background()
	var all []llm.Call
	for {
		calls, creds := e.q.Take()
		if len(calls) == 0 {
			return all
		}
		for i, c := range calls {
			text, err := e.w.Do(ctx, c, creds[i])
			if err != nil {
				e.w.Fail(ctx, c, err)
				continue
			}
			if err := e.w.Apply(ctx, c, text); err != nil {
				t.Errorf("apply %s: %v", c.Kind, err)
			}
		}
		all = append(all, calls...)
	}
}

// messageRequests are the POST /v1/messages the fake received.
func (e *distillEnv) messageRequests() []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range e.up.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/messages" {
			out = append(out, r)
		}
	}
	return out
}

// queue records enqueued calls, as the batch queue would hold them.
type queue = llmtest.Queue
