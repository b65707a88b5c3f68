package lore

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// What Caddy's handle_errors does with the errors clients of a lore site
// see: lore answers its own errors (and relays the upstream's) itself, in
// the route's API shape, so handle_errors never sees them; it handles only
// errors other handlers return (here the `error` directive, as an auth or
// rate-limit module would), which a site can answer in the API's shape too.
func TestIntegrationErrorsAndHandleErrors(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(itGlobal+fmt.Sprintf(`http://localhost:9080 {
	@blocked header X-Block 1
	error @blocked "blocked by policy" 403
	lore {
		upstream %s
		max_body 4KB
	}
	reverse_proxy %s
	handle_errors {
		@api path /v1/*
		handle @api {
			header Content-Type application/json
			respond `+"`"+`{"type":"error","error":{"type":"permission_error","message":"{err.message}"}}`+"`"+` {err.status_code}
		}
		respond "site error page {err.status_code}"
	}
}
http://127.0.0.1:9080 {
	lore {
		upstream http://127.0.0.1:1
	}
	handle_errors {
		respond "site error page {err.status_code}"
	}
}
`, e.fake.URL(), strings.TrimPrefix(e.backend.URL, "http://")), "caddyfile")

	post := func(url, body string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", itKey)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	anthropicShape := func(what, body, errType string) {
		t.Helper()
		var env struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if json.Unmarshal([]byte(body), &env) != nil || env.Type != "error" || env.Error.Type != errType || env.Error.Message == "" {
			t.Errorf("%s: not an Anthropic %s error: %s", what, errType, body)
		}
	}
	const turn = `{"model":"claude-sonnet-4-5","max_tokens":64,"system":"` + itSystem + `","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"a","input_schema":{}},{"name":"b","input_schema":{}},{"name":"c","input_schema":{}}]}`

	// Errors lore makes: its shape, X-Lore-Error, handle_errors not involved.
	resp, body := post("http://localhost:9080/v1/messages", `{"model":`)
	if resp.StatusCode != 400 || resp.Header.Get("X-Lore-Error") != "1" || strings.Contains(body, "site error") {
		t.Errorf("malformed JSON: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	anthropicShape("malformed JSON", body, "invalid_request_error")
	resp, body = post("http://localhost:9080/v1/messages", `{"model":"x","pad":"`+strings.Repeat("a", 8<<10)+`"}`)
	if resp.StatusCode != 413 || strings.Contains(body, "site error") {
		t.Errorf("over max_body: %d %s", resp.StatusCode, body)
	}
	anthropicShape("over max_body", body, "request_too_large")
	resp, body = post("http://localhost:9080/v1/chat/completions", `{"model":`)
	var oai struct {
		Error struct {
			Message, Type string
		}
	}
	if resp.StatusCode != 400 || json.Unmarshal([]byte(body), &oai) != nil || oai.Error.Type != "invalid_request_error" || oai.Error.Message == "" {
		t.Errorf("chat malformed JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = post("http://127.0.0.1:9080/v1/messages", turn)
	if resp.StatusCode != 502 || strings.Contains(body, "site error") {
		t.Errorf("upstream unreachable: %d %s", resp.StatusCode, body)
	}
	anthropicShape("upstream unreachable", body, "api_error")

	// Upstream errors: relayed unchanged (status, retry-after, body).
	e.fake.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 429, Body: `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`})
	resp, body = post("http://localhost:9080/v1/messages", turn)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || body != `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}` {
		t.Errorf("upstream 429: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// An error another handler returns goes to handle_errors, which answers
	// /v1 in the API's shape and the rest of the site with its page.
	resp, body = post("http://localhost:9080/v1/messages", turn, "X-Block", "1")
	if resp.StatusCode != 403 || resp.Header.Get("X-Lore-Error") != "" {
		t.Errorf("blocked: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	anthropicShape("blocked by handle_errors", body, "permission_error")
	if !strings.Contains(body, "blocked by policy") {
		t.Errorf("blocked: %s", body)
	}
	resp, body = post("http://localhost:9080/other", "{}", "X-Block", "1")
	if resp.StatusCode != 403 || body != "site error page 403" {
		t.Errorf("blocked outside /v1: %d %s", resp.StatusCode, body)
	}
}
