package llm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// Credentials known to the fake upstream.
const (
	sessionKey   = "sk-ant-api03-session-key-0001"
	serviceKey   = "sk-ant-api03-service-key-0002"
	sessionOAuth = "sk-ant-oat01-session-token-0003"
	secretKey    = "0123456789abcdef0123456789abcdef" // credential_key
)

type env struct {
	up    *fakeupstream.Server
	st    *store.Store
	keys  *auth.Keyring
	log   *observer.ObservedLogs
	zlog  *zap.Logger
	calls *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	up := fakeupstream.New(fakeupstream.Options{APIKeys: []string{sessionKey, serviceKey}, OAuthTokens: []string{sessionOAuth}})
	t.Cleanup(up.Close)
	mr := miniredis.RunT(t)
	st, err := store.Open(store.Config{Addresses: []string{mr.Addr()}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	keys, err := auth.NewKeyring(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	return &env{up: up, st: st, keys: keys, log: logs, zlog: zap.New(core), calls: &recorder{}}
}

// worker builds a worker on the fake upstream with the "test" kind
// registered to the env's recorder.
func (e *env) worker(t *testing.T, service auth.Credential, mod func(*llm.Config)) *llm.Worker {
	t.Helper()
	u, _ := url.Parse(e.up.URL())
	cfg := llm.Config{Upstream: u, Keys: e.keys, Blobs: e.st, Service: service, Logger: e.zlog}
	if mod != nil {
		mod(&cfg)
	}
	w := llm.New(cfg)
	t.Cleanup(w.Close)
	w.Handle("test", e.calls.apply, e.calls.fail)
	return w
}

// session stores a session whose turn was accepted with cred.
func (e *env) session(t *testing.T, id string, cred auth.Credential) {
	t.Helper()
	var blob []byte
	if !cred.IsZero() {
		var err error
		if blob, err = e.keys.Seal(cred, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.CommitTurn(context.Background(), store.Turn{Session: &store.Session{ID: id}, Credential: blob}); err != nil {
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

// noSecrets fails if any log entry mentions a credential value.
func (e *env) noSecrets(t *testing.T) {
	t.Helper()
	for _, entry := range e.log.All() {
		b, _ := json.Marshal(entry.ContextMap())
		text := entry.Message + string(b)
		for _, secret := range []string{sessionKey, serviceKey, sessionOAuth} {
			if strings.Contains(text, secret) {
				t.Errorf("log entry %q reveals a credential: %s", entry.Message, text)
			}
		}
	}
}

// recorder records applies and failures.
type recorder struct {
	mu      sync.Mutex
	applied []string // text of each Apply
	failed  []error
	applyFn func(c llm.Call, text string) error
}

func (r *recorder) apply(_ context.Context, c llm.Call, text string) error {
	r.mu.Lock()
	r.applied = append(r.applied, text)
	fn := r.applyFn
	r.mu.Unlock()
	if fn != nil {
		return fn(c, text)
	}
	return nil
}

func (r *recorder) fail(_ context.Context, _ llm.Call, err error) {
	r.mu.Lock()
	r.failed = append(r.failed, err)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]string, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.applied...), append([]error(nil), r.failed...)
}

// wait waits until n calls were applied or failed.
func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a, f := r.snapshot()
		if len(a)+len(f) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d outcomes", n)
}

// queue is an Enqueuer that records what it is given.
type queue struct {
	mu    sync.Mutex
	calls []llm.Call
	creds []auth.Credential
	err   error
}

func (q *queue) Enqueue(_ context.Context, c llm.Call, cred auth.Credential) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.calls = append(q.calls, c)
	q.creds = append(q.creds, cred)
	return nil
}

func jsonOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}
