package llm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
)

var (
	apiKey  = auth.Credential{Scheme: auth.SchemeAPIKey, Value: sessionKey}
	service = auth.Credential{Scheme: auth.SchemeAPIKey, Value: serviceKey}
	bearer  = auth.Credential{Scheme: auth.SchemeBearer, Value: sessionOAuth}
)

// docs/context-window.md, Prompt caching: worker system prompts carry ttl "1h" (not "3600"),
// max_tokens 8,192 and the default model; one user message.
func TestParams(t *testing.T) {
	w := llm.New(llm.Config{})
	got := string(w.Params(llm.Call{Kind: "test", System: "Be brief.", User: "Hello"}))
	want := `{"model":"claude-haiku-4-5","max_tokens":8192,"system":[{"type":"text","text":"Be brief.",` +
		`"cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"Hello"}]}`
	if got != want {
		t.Errorf("Params =\n%s\nwant\n%s", got, want)
	}
	got = string(w.Params(llm.Call{Model: "claude-sonnet-4-5", MaxTokens: 100, User: "Hi"}))
	want = `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`
	if got != want {
		t.Errorf("Params without system =\n%s\nwant\n%s", got, want)
	}
	w = llm.New(llm.Config{Model: "claude-haiku-4-5-20251001"})
	if m := jsonOf(t, w.Params(llm.Call{User: "x"}))["model"]; m != "claude-haiku-4-5-20251001" {
		t.Errorf("configured model = %v", m)
	}
}

func TestDoAPIKey(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, auth.Credential{}, nil)
	c := llm.Call{Kind: "test", System: "sys", User: "hello"}
	text, err := w.Do(context.Background(), c, apiKey)
	if err != nil || text != "ok (turn 1)" {
		t.Fatalf("Do = %q, %v; want \"ok (turn 1)\"", text, err)
	}
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h := reqs[0].Header
	for name, want := range map[string]string{
		"X-Api-Key": sessionKey, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json",
		"Authorization": "", "Anthropic-Beta": "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if string(reqs[0].Body) != string(w.Params(c)) {
		t.Errorf("body = %s, want Params %s", reqs[0].Body, w.Params(c))
	}
}

// Bearer (OAuth) worker calls add the oauth beta themselves (docs/sessions-and-identity.md,
// Credentials); the
// fake upstream answers 401 without it.
func TestDoBearerSendsOAuthBeta(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, auth.Credential{}, nil)
	text, err := w.Do(context.Background(), llm.Call{Kind: "test", User: "hello"}, bearer)
	if err != nil || text != "ok (turn 1)" {
		t.Fatalf("Do = %q, %v", text, err)
	}
	h := e.requests()[0].Header
	if h.Get("Authorization") != "Bearer "+sessionOAuth || h.Get("Anthropic-Beta") != "oauth-2025-04-20" || h.Get("X-Api-Key") != "" {
		t.Errorf("headers: Authorization %q, anthropic-beta %q, x-api-key %q",
			h.Get("Authorization"), h.Get("Anthropic-Beta"), h.Get("X-Api-Key"))
	}
}

func TestDoUpstreamErrors(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, auth.Credential{}, nil)
	ctx := context.Background()
	c := llm.Call{Kind: "test", User: "hello"}

	bad := auth.Credential{Scheme: auth.SchemeAPIKey, Value: "sk-ant-api03-unknown-9999"}
	_, err := w.Do(ctx, c, bad)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Type != "authentication_error" ||
		apiErr.Message != "invalid x-api-key" || !strings.HasPrefix(apiErr.RequestID, "req_") {
		t.Fatalf("Do with an unknown key = %#v", err)
	}
	if strings.Contains(err.Error(), bad.Value) {
		t.Errorf("error reveals the credential: %v", err)
	}

	// An upstream that echoes the credential back gets it scrubbed.
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 529,
		Body: `{"type":"error","error":{"type":"overloaded_error","message":"busy for ` + sessionKey + `"}}`})
	_, err = w.Do(ctx, c, apiKey)
	if err == nil || err.Error() != "llm: upstream answered 529 overloaded_error: busy for [redacted] (request-id "+apiErr2(err).RequestID+")" {
		t.Errorf("Do on 529 = %v", err)
	}
	if apiErr2(err).Status != 529 {
		t.Errorf("status = %d, want 529", apiErr2(err).Status)
	}

	// A 200 without a text block.
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 200,
		Body: `{"type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"x","input":{}}]}`})
	if _, err = w.Do(ctx, c, apiKey); !errors.Is(err, llm.ErrNoText) {
		t.Errorf("Do without text = %v, want ErrNoText", err)
	}
	if _, err = w.Do(ctx, c, auth.Credential{}); !errors.Is(err, llm.ErrNoCredential) {
		t.Errorf("Do without credential = %v, want ErrNoCredential", err)
	}
	e.noSecrets(t)
}

func apiErr2(err error) *llm.APIError {
	var e *llm.APIError
	if errors.As(err, &e) {
		return e
	}
	return &llm.APIError{}
}

// docs/sessions-and-identity.md, Whose credential pays for background work:
// the session's credential, else the worker credential, else none
// (and then no call is made at all).
func TestCredentialOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.session(t, "sess-A", bearer)
	e.session(t, "sess-B", auth.Credential{})

	withService := e.worker(t, service, nil)
	for sid, want := range map[string]auth.Credential{"sess-A": bearer, "sess-B": service, "sess-none": service} {
		if got, err := withService.Credential(ctx, sid); err != nil || got != want {
			t.Errorf("Credential(%s) = %v, %v; want %v", sid, got, err, want)
		}
	}

	// Urgent calls: A is billed to A's token, B to the service key.
	for _, sid := range []string{"sess-A", "sess-B"} {
		if err := withService.Submit(ctx, llm.Call{Kind: "test", SessionID: sid, Urgent: true, User: "hi"}); err != nil {
			t.Fatalf("Submit(%s): %v", sid, err)
		}
	}
	reqs := e.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Authorization") != "Bearer "+sessionOAuth ||
		reqs[0].Header.Get("Anthropic-Beta") != "oauth-2025-04-20" || reqs[1].Header.Get("X-Api-Key") != serviceKey {
		t.Fatalf("requests: %d, first Authorization %q, second x-api-key %q", len(reqs),
			reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("X-Api-Key"))
	}

	// Without a worker credential, B is skipped: no request, Fail told.
	noService := e.worker(t, auth.Credential{}, nil)
	e.calls.applied, e.calls.failed = nil, nil
	for _, urgent := range []bool{true, false} {
		err := noService.Submit(ctx, llm.Call{Kind: "test", SessionID: "sess-B", Urgent: urgent, User: "hi"})
		if !errors.Is(err, llm.ErrNoCredential) {
			t.Errorf("Submit(urgent=%v) = %v, want ErrNoCredential", urgent, err)
		}
	}
	applied, failed := e.calls.snapshot()
	if len(e.requests()) != 2 || len(applied) != 0 || len(failed) != 2 ||
		!errors.Is(failed[0], llm.ErrNoCredential) || !errors.Is(failed[1], llm.ErrNoCredential) {
		t.Errorf("after skipped calls: %d requests, applied %v, failed %v", len(e.requests()), applied, failed)
	}
	warned := e.log.FilterMessage("worker call skipped: no session credential and no worker_credential").Len()
	if warned != 2 {
		t.Errorf("%d skip warnings, want 2", warned)
	}
	e.noSecrets(t)
}

func TestSubmitUrgentAppliesInline(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, service, nil)
	ctx := context.Background()
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "s1", Urgent: true, User: "one"}); err != nil {
		t.Fatal(err)
	}
	applied, failed := e.calls.snapshot()
	if len(applied) != 1 || applied[0] != "ok (turn 1)" || len(failed) != 0 {
		t.Fatalf("applied %q, failed %v", applied, failed)
	}

	// An applier error is returned and reported to Fail.
	boom := errors.New("boom")
	e.calls.applyFn = func(llm.Call, string) error { return boom }
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "s1", Urgent: true, User: "two"}); !errors.Is(err, boom) {
		t.Fatalf("Submit = %v, want boom", err)
	}
	// An upstream error is returned and reported to Fail, nothing applied.
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 500})
	err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "s1", Urgent: true, User: "three"})
	if apiErr2(err).Status != 500 {
		t.Fatalf("Submit on 500 = %v", err)
	}
	applied, failed = e.calls.snapshot()
	if len(applied) != 2 || len(failed) != 2 || !errors.Is(failed[0], boom) || apiErr2(failed[1]).Status != 500 {
		t.Errorf("applied %q, failed %v", applied, failed)
	}

	// Unknown kinds are an error.
	if err := w.Apply(ctx, llm.Call{Kind: "nobody"}, "x"); !errors.Is(err, llm.ErrNoHandler) {
		t.Errorf("Apply(unknown kind) = %v, want ErrNoHandler", err)
	}
}

// Non-urgent calls go to the queue with the credential resolved at submit
// time; no upstream call is made.
func TestSubmitNonUrgentEnqueuesSnapshot(t *testing.T) {
	e := newEnv(t)
	e.session(t, "sess-A", apiKey)
	w := e.worker(t, service, nil)
	q := &queue{}
	w.SetQueue(q)
	c := llm.Call{Kind: "test", SessionID: "sess-A", User: "later", Ref: []byte(`{"x":1}`)}
	if err := w.Submit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(q.calls) != 1 || q.calls[0].User != "later" || string(q.calls[0].Ref) != `{"x":1}` || q.creds[0] != apiKey {
		t.Fatalf("queue got %d calls, cred %v", len(q.calls), q.creds)
	}
	if len(e.requests()) != 0 {
		t.Errorf("%d upstream requests, want 0", len(e.requests()))
	}

	// A queue that refuses the item: the call runs in the background.
	q.err = errors.New("redis down")
	if err := w.Submit(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.calls.wait(t, 1)
	applied, _ := e.calls.snapshot()
	if len(applied) != 1 || len(e.requests()) != 1 || e.requests()[0].Header.Get("X-Api-Key") != sessionKey {
		t.Errorf("fallback: applied %q, %d requests", applied, len(e.requests()))
	}
}

// blockingTransport holds every request until release is closed, and
// records the highest number of requests in flight.
type blockingTransport struct {
	release chan struct{}
	started chan struct{}
	mu      sync.Mutex
	now     int
	peak    int
}

func newBlocking() *blockingTransport {
	return &blockingTransport{release: make(chan struct{}), started: make(chan struct{}, 100)}
}

func (b *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.now++
	b.peak = max(b.peak, b.now)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.now--
		b.mu.Unlock()
	}()
	b.started <- struct{}{}
	select {
	case <-b.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestBackgroundPoolBounded(t *testing.T) {
	e := newEnv(t)
	bt := newBlocking()
	w := e.worker(t, service, func(c *llm.Config) { c.Transport = bt; c.MaxConcurrent = 2 })
	for i := 0; i < 6; i++ {
		if err := w.Submit(context.Background(), llm.Call{Kind: "test", SessionID: "s", User: "bg"}); err != nil {
			t.Fatal(err)
		}
	}
	<-bt.started
	<-bt.started
	close(bt.release)
	e.calls.wait(t, 6)
	applied, failed := e.calls.snapshot()
	bt.mu.Lock()
	peak := bt.peak
	bt.mu.Unlock()
	if len(applied) != 6 || len(failed) != 0 || peak != 2 {
		t.Errorf("applied %d, failed %d, peak concurrency %d; want 6, 0, 2", len(applied), len(failed), peak)
	}
}

// Close fails the calls still waiting (ErrClosed), cancels the running one
// after the grace period, and refuses later background work.
func TestCloseFailsWaitingAndCancelsRunning(t *testing.T) {
	e := newEnv(t)
	bt := newBlocking()
	w := e.worker(t, service, func(c *llm.Config) { c.Transport = bt; c.MaxConcurrent = 1; c.CloseTimeout = 50 * time.Millisecond })
	for i := 0; i < 3; i++ {
		if err := w.Submit(context.Background(), llm.Call{Kind: "test", SessionID: "s", User: "bg"}); err != nil {
			t.Fatal(err)
		}
	}
	<-bt.started
	w.Close()
	applied, failed := e.calls.snapshot()
	if len(applied) != 0 || len(failed) != 3 || !errors.Is(failed[0], llm.ErrClosed) ||
		!errors.Is(failed[1], llm.ErrClosed) || !errors.Is(failed[2], context.Canceled) {
		t.Fatalf("applied %d, failed %v", len(applied), failed)
	}
	if err := w.Submit(context.Background(), llm.Call{Kind: "test", SessionID: "s", User: "late"}); !errors.Is(err, llm.ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if _, failed = e.calls.snapshot(); len(failed) != 4 {
		t.Errorf("%d failures, want 4", len(failed))
	}
}

// A panicking applier is logged with its stack and turned into a Fail; the
// pool keeps working.
func TestBackgroundPanicRecovered(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, service, func(c *llm.Config) { c.MaxConcurrent = 1 })
	e.calls.applyFn = func(c llm.Call, _ string) error {
		if c.User == "panic" {
			panic("applier bug")
		}
		return nil
	}
	for _, u := range []string{"panic", "fine"} {
		if err := w.Submit(context.Background(), llm.Call{Kind: "test", SessionID: "s", User: u}); err != nil {
			t.Fatal(err)
		}
	}
	e.calls.wait(t, 3) // two applies, one failure
	applied, failed := e.calls.snapshot()
	if len(applied) != 2 || len(failed) != 1 || failed[0].Error() != "llm: applying a test result panicked" {
		t.Fatalf("applied %d, failed %v", len(applied), failed)
	}
	logged := e.log.FilterMessage("worker call panicked").All()
	if len(logged) != 1 || !strings.Contains(logged[0].ContextMap()["stack"].(string), "runtime/debug.Stack") {
		t.Errorf("panic log entries: %d", len(logged))
	}
}

// OnCall hears every routed call: urgent, batch (enqueued) and sync (pool).
func TestOnCallRoutes(t *testing.T) {
	e := newEnv(t)
	e.session(t, "sess-A", apiKey)
	var mu sync.Mutex
	var got []string
	w := e.worker(t, service, func(c *llm.Config) {
		c.OnCall = func(kind, route string) {
			mu.Lock()
			got = append(got, kind+"/"+route)
			mu.Unlock()
		}
	})
	ctx := context.Background()
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "sess-A", Urgent: true, User: "now"}); err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	w.SetQueue(q)
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "sess-A", User: "later"}); err != nil {
		t.Fatal(err)
	}
	q.err = errors.New("redis down")
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "sess-A", User: "pool"}); err != nil {
		t.Fatal(err)
	}
	e.calls.wait(t, 2)
	if _, err := w.Prompt(ctx, llm.Call{Kind: "compact", SessionID: "sess-A", User: "sum"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"test/urgent", "test/batch", "test/sync", "compact/urgent"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnCall heard %v, want %v", got, want)
	}
}
