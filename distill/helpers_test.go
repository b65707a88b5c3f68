package distill

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
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	sessionKey   = "sk-ant-api03-session-key-0001"
	serviceKey   = "sk-ant-api03-service-key-0002"
	sessionOAuth = "sk-ant-oat01-session-token-0003"
	secretKey    = "0123456789abcdef0123456789abcdef"
)

var (
	apiKey  = auth.Credential{Scheme: auth.SchemeAPIKey, Value: sessionKey}
	service = auth.Credential{Scheme: auth.SchemeAPIKey, Value: serviceKey}
	bearer  = auth.Credential{Scheme: auth.SchemeBearer, Value: sessionOAuth}
	// t0 is the fake clock's start, 14:00 UTC.
	t0 = time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
)

// env is a distiller on miniredis and the fake upstream.
type env struct {
	up     *fakeupstream.Server
	raw    *redis.Client // the Redis behind st, for inspection
	prefix string
	st     *store.Store
	keys   *auth.Keyring
	now    time.Time
	n      map[string]int // messages stored per session
	mu     sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	up := fakeupstream.New(fakeupstream.Options{APIKeys: []string{sessionKey, serviceKey}, OAuthTokens: []string{sessionOAuth}})
	t.Cleanup(up.Close)
	cfg, raw := storetest.Config(t, "distill")
	st := storetest.Open(t, cfg)
	keys, err := auth.NewKeyring(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	return &env{up: up, raw: raw, prefix: cfg.KeyPrefix, st: st, keys: keys, now: t0, n: map[string]int{}}
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// instance is one gateway instance: a worker (optionally with a recording
// queue) and its distiller, all on the env's Redis and upstream.
type instance struct {
	w *llm.Worker
	q *queue // nil: non-urgent calls run in the worker's background pool
	d *Distiller
}

func (e *env) instance(t *testing.T, svc auth.Credential, withQueue bool) *instance {
	t.Helper()
	u, _ := url.Parse(e.up.URL())
	w := llm.New(llm.Config{Upstream: u, Keys: e.keys, Blobs: e.st, Service: svc})
	t.Cleanup(w.Close)
	in := &instance{w: w}
	if withQueue {
		in.q = &queue{}
		w.SetQueue(in.q)
	}
	in.d = New(Config{Store: e.st, Worker: w, Location: time.UTC, Now: e.clock})
	return in
}

// add appends n messages (user and assistant in turn, "message i", one
// minute apart) to session sid, last request at the clock's time, the
// session's credential being cred.
func (e *env) add(t *testing.T, sid string, n int, cred auth.Credential) {
	t.Helper()
	var blob []byte
	if !cred.IsZero() {
		var err error
		if blob, err = e.keys.Seal(cred, sid); err != nil {
			t.Fatal(err)
		}
	}
	start := e.n[sid]
	msgs := make([]store.StoredMessage, n)
	for i := range msgs {
		pos := start + i
		role := "user"
		if pos%2 == 1 {
			role = "assistant"
		}
		content, _ := json.Marshal("message " + strconv.Itoa(pos))
		msgs[i] = store.StoredMessage{ID: "m" + strconv.Itoa(pos), Role: role, Position: pos, Content: content,
			At: t0.Add(time.Duration(pos) * time.Minute).UnixMilli()}
	}
	e.n[sid] = start + n
	sess := &store.Session{ID: sid, LastRequest: e.clock(), Stored: start + n}
	if err := e.st.CommitTurn(context.Background(), store.Turn{Session: sess, Messages: msgs, Credential: blob}); err != nil {
		t.Fatal(err)
	}
}

// requests returns the recorded POST /v1/messages requests.
func (e *env) requests() []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range e.up.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/messages" {
			out = append(out, r)
		}
	}
	return out
}

// body decodes a recorded worker request's system text and user text.
func body(t *testing.T, r fakeupstream.Request) (system, user string) {
	t.Helper()
	var p struct {
		System []struct {
			Text string `json:"text"`
		} `json:"system"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.System) > 0 {
		system = p.System[0].Text
	}
	return system, p.Messages[0].Content
}

// rows returns the session's live rows, oldest first.
func (e *env) rows(t *testing.T, sid string) []Row {
	t.Helper()
	rows, err := LiveRows(context.Background(), e.st, sid)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (e *env) mark(t *testing.T, sid string) int {
	t.Helper()
	n, err := DistilledUpTo(context.Background(), e.st, sid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) undistilled(t *testing.T, sid string) int {
	t.Helper()
	n, err := UndistilledCount(context.Background(), e.st, sid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// guarded reports whether the session's in-flight guard is held.
func (e *env) guarded(sid string) bool {
	return e.raw.Exists(context.Background(), e.prefix+"s:{"+sid+"}:dist:guard").Val() == 1
}

// queue records enqueued calls, as the batch queue would hold them.
type queue = llmtest.Queue

// deliver runs one queued call as the batch queue would: with its snapshot
// credential, then Apply (or Fail).
func (in *instance) deliver(t *testing.T, c llm.Call, cred auth.Credential) {
	t.Helper()
	ctx := context.Background()
	text, err := in.w.Do(ctx, c, cred)
	if err != nil {
		in.w.Fail(ctx, c, err)
		return
	}
	_ = in.w.Apply(ctx, c, text)
}

// drain delivers queued calls, including those queued meanwhile, in order.
func (in *instance) drain(t *testing.T) int {
	t.Helper()
	n := 0
	for {
		calls, creds := in.q.Take()
		if len(calls) == 0 {
			return n
		}
		for i := range calls {
			in.deliver(t, calls[i], creds[i])
			n++
		}
	}
}

// waitIdle waits until the session's guard is gone (background work done).
func (e *env) waitIdle(t *testing.T, sid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.guarded(sid) {
		if time.Now().After(deadline) {
			t.Fatalf("session %s still has a distillation in flight", sid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func refOf(t *testing.T, c llm.Call) segmentRef {
	t.Helper()
	var r segmentRef
	if err := json.Unmarshal(c.Ref, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
