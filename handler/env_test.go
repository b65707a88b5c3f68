package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	keyA   = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA-aaaaaaaa"
	keyB   = "sk-ant-api03-BBBBBBBBBBBBBBBBBBBBBBBB-bbbbbbbb"
	oauthT = "sk-ant-oat01-TTTTTTTTTTTTTTTTTTTTTTTT-tttttttt"
	secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// env is a gateway handler wired to a fake upstream and a miniredis the test
// controls, served by an httptest server.
type env struct {
	t     *testing.T
	fake  *fakeupstream.Server
	redis *miniredis.Miniredis
	store *store.Store
	keys  *auth.Keyring
	h     *Handler
	srv   *httptest.Server
	logs  *observer.ObservedLogs
	// serving counts requests inside ServeHTTP; with the handler's own
	// background group it lets post wait for a turn's deferred commit.
	serving sync.WaitGroup
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t}
	e.fake = fakeupstream.New(fakeupstream.Options{APIKeys: []string{keyA, keyB}, OAuthTokens: []string{oauthT}})
	t.Cleanup(e.fake.Close)
	e.redis = miniredis.RunT(t)
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	var err error
	e.store, err = store.Open(store.Config{Addresses: []string{e.redis.Addr()}, DialTimeout: 0, Timeout: 0}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	e.keys, err = auth.NewKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(e.fake.URL())
	cfg := Config{Upstream: up, OpenAIUpstream: up, MaxBody: 1 << 20, Retention: time.Hour,
		Store: e.store, Keys: e.keys, Logger: zap.New(core)}
	for _, m := range mutate {
		m(&cfg)
	}
	e.h = New(cfg)
	t.Cleanup(e.h.Close)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "next handler")
	})
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serving.Add(1)
		defer e.serving.Done()
		if err := e.h.ServeHTTP(w, r, nextHandler{next}); err != nil {
			t.Errorf("ServeHTTP returned %v", err)
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

type nextHandler struct{ h http.Handler }

func (n nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.h.ServeHTTP(w, r)
	return nil
}

// post sends a request to the gateway and returns status, headers and body.
func (e *env) post(path string, body string, hdr ...string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	e.settle()
	return resp.StatusCode, resp.Header, string(b)
}

// settle waits until every request has left ServeHTTP and its post-answer
// work (the turn's commit, distillation triggers) has finished.
func (e *env) settle() {
	e.serving.Wait()
	e.h.commits.Wait() // a commit may leave distillation or curation ...
	e.h.work.Wait()    // ... for later
}

// lastUpstream returns the last request the fake received on path.
func (e *env) lastUpstream(path string) fakeupstream.Request {
	e.t.Helper()
	reqs := e.fake.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path == path {
			return reqs[i]
		}
	}
	e.t.Fatalf("the upstream received no request on %s", path)
	return fakeupstream.Request{}
}

// sessionIDs lists the sessions in Redis.
// onlySession loads the one session the env has stored.
func (e *env) onlySession(t *testing.T) *store.Session {
	t.Helper()
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v, want one", ids)
	}
	s, err := e.store.LoadSession(context.Background(), ids[0])
	if err != nil || s == nil {
		t.Fatal(s, err)
	}
	return s
}

func (e *env) sessionIDs() []string {
	var ids []string
	for _, k := range e.redis.Keys() {
		if strings.HasSuffix(k, "}:state") {
			ids = append(ids, k[strings.Index(k, "{")+1:strings.Index(k, "}")])
		}
	}
	return ids
}

func (e *env) messages(id string) []store.StoredMessage {
	e.t.Helper()
	msgs, err := e.store.Messages(context.Background(), id, 0, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// dump returns every key and value in Redis as one string.
func (e *env) dump() string {
	var b bytes.Buffer
	for _, k := range e.redis.Keys() {
		b.WriteString(k + "\n")
		switch e.redis.Type(k) {
		case "string":
			v, _ := e.redis.Get(k)
			b.WriteString(v)
		case "hash":
			fields, _ := e.redis.HKeys(k)
			for _, f := range fields {
				b.WriteString(f + "=" + e.redis.HGet(k, f) + "\n")
			}
		case "list":
			vals, _ := e.redis.List(k)
			b.WriteString(strings.Join(vals, "\n"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// conversation builds a Claude-Code-shaped request body: a long system
// prompt (so it is not a utility call), tools, and turns user/assistant
// messages ending with a user message.
func conversation(first string, turns int, extra string) string {
	var msgs []string
	for i := range turns {
		text := first
		if i > 0 {
			text = fmt.Sprintf("user message %d", i)
		}
		u, _ := json.Marshal(text)
		msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":%s}`, u))
		if i < turns-1 {
			msgs = append(msgs, fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"ok (turn %d)"}]}`, i+1))
		}
	}
	sys, _ := json.Marshal("You are Claude Code, Anthropic's official CLI for Claude. " + strings.Repeat("Follow the rules. ", 40))
	return fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":1024,%s"system":%s,"tools":[{"name":"bash","input_schema":{"type":"object"}},{"name":"read","input_schema":{"type":"object"}},{"name":"edit","input_schema":{"type":"object"}}],"messages":[%s]}`,
		extra, sys, strings.Join(msgs, ","))
}

func fmtAny(v any) string { return fmt.Sprint(v) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
