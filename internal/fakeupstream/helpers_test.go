package fakeupstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

const (
	keyA   = "sk-ant-api03-test-A"
	keyB   = "sk-ant-api03-test-B"
	oauthT = "sk-ant-oat01-test-T"
)

// newServer starts a fake with keys A and B, OAuth token T and a fake clock.
func newServer(t *testing.T, opts Options) (*Server, *fakeClock) {
	t.Helper()
	if opts.APIKeys == nil {
		opts.APIKeys = []string{keyA, keyB}
	}
	if opts.OAuthTokens == nil {
		opts.OAuthTokens = []string{oauthT}
	}
	s := NewHandler(opts)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.now = clk.now
	if _, err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, clk
}

// client is an SDK client without retries unless more options say so.
func client(s *Server, opts ...option.RequestOption) *anthropic.Client {
	base := []option.RequestOption{option.WithBaseURL(s.URL()), option.WithAPIKey(keyA), option.WithMaxRetries(0)}
	c := anthropic.NewClient(append(base, opts...)...)
	return &c
}

// response is a raw HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// do sends a raw request; headers are "Name: value" strings.
func do(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

// post sends an Anthropic request with key A.
func post(t *testing.T, s *Server, path, body string, headers ...string) response {
	t.Helper()
	if len(headers) == 0 {
		headers = []string{"x-api-key: " + keyA}
	}
	headers = append(headers, "anthropic-version: 2023-06-01", "content-type: application/json")
	return do(t, http.MethodPost, s.URL()+path, body, headers...)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// wantError asserts an Anthropic error envelope.
func wantError(t *testing.T, r response, status int, typ, msg string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	if m["type"] != "error" || e["type"] != typ || e["message"] != msg {
		t.Fatalf("error = %s\nwant type %q message %q", r.Body, typ, msg)
	}
	if id, _ := m["request_id"].(string); !strings.HasPrefix(id, "req_") || id != r.Header.Get("request-id") {
		t.Fatalf("request_id %v, header %q", m["request_id"], r.Header.Get("request-id"))
	}
}

// fakeClock is a settable clock for TTL and batch tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func optKey(k string) option.RequestOption  { return option.WithAPIKey(k) }
func optBase(u string) option.RequestOption { return option.WithBaseURL(u) }
