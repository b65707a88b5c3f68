package handler

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// TestPathsStayUnderV1: dot segments, encoded or not, never climb out of
// /v1 or out of the upstream's base path; clean ones are forwarded cleaned.
func TestPathsStayUnderV1(t *testing.T) {
	var mu sync.Mutex
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.EscapedPath())
		mu.Unlock()
		_, _ = io.WriteString(w, `{}`)
	}))
	defer up.Close()
	base, _ := url.Parse(up.URL + "/anthropic")
	e := newEnv(t, func(c *Config) { c.Upstream = base })
	get := func(p string) int {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/placeholder", nil)
		req.URL.Opaque = p // sent exactly as written
		req.Header.Set("x-api-key", keyA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.ReadAll(resp.Body)
		return resp.StatusCode
	}
	for _, p := range []string{"/v1/%2e%2e/admin", "/v1/%2E%2E/%2e%2e/admin", "/v1/..%2f..%2fadmin", "/v1/models/../../x", "/v1/..", "/v1/..\\..\\admin", "/v1/models/%5c..%5c..%5cadmin"} {
		if status := get(p); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", p, status)
		}
	}
	for p, want := range map[string]string{
		"/v1/models":              "/anthropic/v1/models",
		"/v1/./models":            "/anthropic/v1/models",
		"/v1//models":             "/anthropic/v1/models",
		"/v1/models/x/../y":       "/anthropic/v1/models/y",
		"/v1/files/a%2Fb":         "/anthropic/v1/files/a/b",
		"/v1/messages/batches/b/": "/anthropic/v1/messages/batches/b/",
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if status := get(p); status != 200 {
			t.Errorf("%s: status %d", p, status)
			continue
		}
		mu.Lock()
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: upstream got %v, want %s", p, got, want)
		}
		mu.Unlock()
	}
}
