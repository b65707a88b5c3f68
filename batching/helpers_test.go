package batching

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	keyA   = "sk-ant-api03-batching-test-A"
	keyB   = "sk-ant-api03-batching-test-B"
	oauthT = "sk-ant-oat01-batching-test-T"
)

var (
	credA = auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA}
	credB = auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyB}
	credT = auth.Credential{Scheme: auth.SchemeBearer, Value: oauthT}
)

// backend is a Redis the tests run on: a fresh miniredis, and, when
// LORE_TEST_REDIS_ADDR is set, a real Redis under a random key prefix.
type backend struct {
	name string
	cfg  store.Config
}

func backends(t *testing.T) []backend {
	t.Helper()
	m := miniredis.RunT(t)
	// A generous read timeout: scripts over thousands of items run slowly on
	// miniredis under -race on a loaded machine.
	slow := caddy.Duration(15 * time.Second)
	out := []backend{{"miniredis", store.Config{Addresses: []string{m.Addr()}, Timeout: slow}}}
	if addr := os.Getenv("LORE_TEST_REDIS_ADDR"); addr != "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		prefix := "lore-batching-test-" + hex.EncodeToString(b) + ":"
		t.Cleanup(func() { wipe(addr, prefix) })
		out = append(out, backend{"redis", store.Config{Addresses: []string{addr}, KeyPrefix: prefix, Timeout: slow}})
	}
	return out
}

func wipe(addr, prefix string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// env is one test's world: a store, a keyring, a fake upstream and a runner.
type env struct {
	t      testing.TB
	st     *store.Store
	keys   *auth.Keyring
	up     *fakeupstream.Server
	upURL  *url.URL
	runner *fakeRunner
	log    *zap.Logger
}

func newEnv(t testing.TB, cfg store.Config, opts fakeupstream.Options) *env {
	t.Helper()
	if opts.APIKeys == nil {
		opts.APIKeys = []string{keyA, keyB}
	}
	if opts.OAuthTokens == nil {
		opts.OAuthTokens = []string{oauthT}
	}
	up := fakeupstream.New(opts)
	t.Cleanup(up.Close)
	st, err := store.Open(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	keys, err := auth.NewKeyring("batching-test-credential-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL())
	return &env{t: t, st: st, keys: keys, up: up, upURL: u, runner: newFakeRunner(up.URL()), log: zaptest.NewLogger(t)}
}

// queueOpts tweaks a test queue.
type queueOpts struct {
	cfg       func(*Config)
	transport http.RoundTripper
	offset    time.Duration // this queue's clock runs ahead by offset
	clock     *atomic.Int64 // or follows this offset (nanoseconds), changeable
	leaseTTL  time.Duration
}

// queue makes a queue with test intervals: no timer flush (1h), fast polls.
func (e *env) queue(o queueOpts) *Queue {
	e.t.Helper()
	cfg := Config{
		FlushInterval: time.Hour,
		PollInterval:  10 * time.Millisecond,
		Upstream:      e.upURL,
		Transport:     o.transport,
		Keys:          e.keys,
		Store:         e.st,
		Logger:        e.log,
		InstanceID:    "test",
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	q, err := New(cfg, e.runner)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case o.clock != nil:
		q.now = func() time.Time { return time.Now().Add(time.Duration(o.clock.Load())) }
	case o.offset != 0:
		q.now = func() time.Time { return time.Now().Add(o.offset) }
	}
	if o.leaseTTL != 0 {
		q.tun.leaseTTL = o.leaseTTL
	}
	q.tun.httpTimeout = 10 * time.Second
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return q
}

// call is a test call whose user text identifies it.
func call(sid string, n int) llm.Call {
	return llm.Call{Kind: "distill", SessionID: sid, Model: "claude-haiku-4-5", System: "sys", User: fmt.Sprintf("%s item %d", sid, n)}
}

func (e *env) enqueue(q *Queue, c llm.Call, cred auth.Credential) {
	e.t.Helper()
	if err := q.Enqueue(context.Background(), c, cred); err != nil {
		e.t.Fatalf("Enqueue: %v", err)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// created is one batch create the fake received.
type created struct {
	header http.Header
	ids    []string
	users  []string // params.messages[0].content of each request
}

// creates returns the batch creates the fake received, in order.
func (e *env) creates() []created {
	var out []created
	for _, r := range e.up.Requests() {
		if r.Method != http.MethodPost || r.Path != "/v1/messages/batches" {
			continue
		}
		var body struct {
			Requests []struct {
				CustomID string `json:"custom_id"`
				Params   struct {
					Messages []struct {
						Content string `json:"content"`
					} `json:"messages"`
				} `json:"params"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			e.t.Fatalf("create body: %v", err)
		}
		c := created{header: r.Header}
		for _, x := range body.Requests {
			c.ids = append(c.ids, x.CustomID)
			c.users = append(c.users, x.Params.Messages[0].Content)
		}
		out = append(out, c)
	}
	return out
}

// count counts the fake's requests with method and path prefix.
func (e *env) count(method, prefix string) int {
	n := 0
	for _, r := range e.up.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

func (e *env) stats(q *Queue) Stats {
	e.t.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// fakeRunner is the worker as the queue sees it: Do calls the fake
// upstream's /v1/messages; Apply and Fail are recorded by user text.
type fakeRunner struct {
	base   string
	client *http.Client

	mu      sync.Mutex
	applied map[string][]string // user text → texts applied
	failed  map[string][]error
	dos     map[string]int
	creds   map[string]auth.Credential // user text → credential of its last Do
	inDo    int
	maxInDo int

	gate      chan struct{}          // when set, Do waits for it to close
	doHook    func(c llm.Call) error // runs at the start of Do
	applyHook func(c llm.Call)       // runs after Apply recorded
	panicOn   string                 // Apply panics for this user text (once)
}

func newFakeRunner(base string) *fakeRunner {
	return &fakeRunner{base: base, client: &http.Client{}, applied: map[string][]string{},
		failed: map[string][]error{}, dos: map[string]int{}, creds: map[string]auth.Credential{}}
}

func (r *fakeRunner) Params(c llm.Call) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"model": c.Model, "max_tokens": 256, "system": c.System,
		"messages": []any{map[string]any{"role": "user", "content": c.User}},
	})
	return b
}

func (r *fakeRunner) ChatParams(c llm.Call) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"model": "gpt-test-mini", "max_completion_tokens": 256,
		"messages": []any{map[string]any{"role": "system", "content": c.System}, map[string]any{"role": "user", "content": c.User}},
	})
	return b
}

func (r *fakeRunner) Do(ctx context.Context, c llm.Call, cred auth.Credential) (string, error) {
	r.mu.Lock()
	r.dos[c.User]++
	r.creds[c.User] = cred
	r.inDo++
	r.maxInDo = max(r.maxInDo, r.inDo)
	gate, hook := r.gate, r.doHook
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.inDo--; r.mu.Unlock() }()
	if hook != nil {
		if err := hook(c); err != nil {
			return "", err
		}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/messages", bytes.NewReader(r.Params(c)))
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("content-type", "application/json")
	cred.SetAnthropic(req.Header)
	cred.EnsureOAuthBeta(req.Header)
	resp, err := r.client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var m struct {
		Content []struct{ Type, Text string } `json:"content"`
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Content) == 0 {
		return "", errors.New("bad answer")
	}
	return m.Content[0].Text, nil
}

func (r *fakeRunner) Apply(ctx context.Context, c llm.Call, text string) error {
	r.mu.Lock()
	r.applied[c.User] = append(r.applied[c.User], text)
	hook, boom := r.applyHook, r.panicOn != "" && r.panicOn == c.User
	if boom {
		r.panicOn = ""
	}
	r.mu.Unlock()
	if boom {
		panic("apply exploded")
	}
	if hook != nil {
		hook(c)
	}
	return nil
}

func (r *fakeRunner) Fail(ctx context.Context, c llm.Call, err error) {
	r.mu.Lock()
	r.failed[c.User] = append(r.failed[c.User], err)
	r.mu.Unlock()
}

func (r *fakeRunner) counts() (applied, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.applied {
		applied += len(v)
	}
	for _, v := range r.failed {
		failed += len(v)
	}
	return
}

func (r *fakeRunner) appliedTo(user string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.applied[user]...)
}

func (r *fakeRunner) failedOf(user string) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.failed[user]...)
}

func (r *fakeRunner) doCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.dos {
		n += v
	}
	return n
}

// duplicates lists user texts applied or failed more than once in total.
func (r *fakeRunner) duplicates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for u, v := range r.applied {
		if len(v)+len(r.failed[u]) > 1 {
			out = append(out, u)
		}
	}
	for u, v := range r.failed {
		if len(v) > 1 && len(r.applied[u]) == 0 {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// hookTransport lets a test intercept upstream requests.
type hookTransport struct {
	next http.RoundTripper
	hook func(req *http.Request, next http.RoundTripper) (*http.Response, error)
}

func (h hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return h.hook(req, h.next)
}

func isCreate(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Path == "/v1/messages/batches"
}

// clockOffset is a queue clock's offset from real time, changeable.
type clockOffset struct{ atomic.Int64 }

// rewriteBody replaces a response's body.
func rewriteBody(resp *http.Response, f func(string) string) *http.Response {
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	nb := f(string(body))
	resp.Body = io.NopCloser(strings.NewReader(nb))
	resp.ContentLength = int64(len(nb))
	resp.Header.Del("Content-Length")
	return resp
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// batchIDs lists key A's batches at the fake, newest first.
func batchIDs(t *testing.T, e *env) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.up.URL()+"/v1/messages/batches?limit=1000", nil)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", keyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	body, _ := io.ReadAll(resp.Body)
	mustJSON(t, string(body), &list)
	var ids []string
	for _, b := range list.Data {
		ids = append(ids, b.ID)
	}
	return ids
}
