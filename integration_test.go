package lore

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/session"
	"github.com/caddy-lore/caddy-lore/store"
)

// caddytest runs one in-process Caddy on fixed ports (admin 2999, http
// 9080), so these tests run one after another in this package only.

const (
	itKey    = "sk-ant-api03-integration-key-000000000000"
	itSecret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	itSystem = "You are Claude Code, Anthropic's official CLI for Claude. Integration test system prompt that is long enough not to be mistaken for a title request."
)

type itEnv struct {
	fake    *fakeupstream.Server
	backend *httptest.Server
}

func newITEnv(t *testing.T) *itEnv {
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{itKey}})
	t.Cleanup(fake.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "backend:"+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	return &itEnv{fake: fake, backend: backend}
}

// itGlobal is the global options block every integration Caddyfile starts
// with: caddytest's admin and ports, no TLS trust store changes.
const itGlobal = `{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}
`

// caddyfile is a site with lore and a reverse_proxy for everything else, and
// no `order` line: lore's registered order puts it before reverse_proxy.
func (e *itEnv) caddyfile(loreBody string) string {
	return itGlobal + fmt.Sprintf(`http://localhost:9080 {
	lore {
		upstream %s
		%s
	}
	reverse_proxy %s
}
`, e.fake.URL(), loreBody, strings.TrimPrefix(e.backend.URL, "http://"))
}

// sdkClient opens a new connection per request: tests reload Caddy between
// turns, a reload closes the old server's idle connections, and a POST sent
// on one just as it closes fails with EOF (the SDK would retry it, but these
// tests count requests, so retries are off).
func sdkClient(t *testing.T) anthropic.Client {
	return gatewayClient(itKey)
}

// gatewayClient is sdkClient with another key and extra options.
func gatewayClient(key string, extra ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL("http://localhost:9080"), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})}, extra...)...)
}

// sdkMessage runs one Claude-Code-like turn (long system prompt, three
// tools) with the given alternating user/assistant texts.
func sdkMessage(t *testing.T, c anthropic.Client, texts ...string) *anthropic.Message {
	t.Helper()
	var msgs []anthropic.MessageParam
	for i, text := range texts {
		if i%2 == 0 {
			msgs = append(msgs, anthropic.NewUserMessage(anthropic.NewTextBlock(text)))
		} else {
			msgs = append(msgs, anthropic.NewAssistantMessage(anthropic.NewTextBlock(text)))
		}
	}
	tools := []anthropic.ToolUnionParam{}
	for _, name := range []string{"bash", "read", "edit"} {
		tools = append(tools, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: name, InputSchema: anthropic.ToolInputSchemaParam{}}})
	}
	resp, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256, Messages: msgs, Tools: tools,
		System: []anthropic.TextBlockParam{{Text: itSystem}},
	})
	if err != nil {
		t.Fatalf("turn through Caddy: %v", err)
	}
	return resp
}

// sdkTurn runs a turn and returns the answer's text.
func sdkTurn(t *testing.T, c anthropic.Client, texts ...string) string {
	t.Helper()
	return sdkMessage(t, c, texts...).Content[0].Text
}

func TestIntegrationCaddyfileTurnsAndRoutes(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(""), "caddyfile")
	c := sdkClient(t)

	if got := sdkTurn(t, c, "first"); got != "ok (turn 1)" {
		t.Fatalf("got %q", got)
	}
	// Streaming through the SDK.
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256, System: []anthropic.TextBlockParam{{Text: itSystem}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("first")),
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("ok (turn 1)")),
			anthropic.NewUserMessage(anthropic.NewTextBlock("second")),
		},
	})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || acc.Content[0].Text != "ok (turn 2)" {
		t.Fatalf("stream: %v %+v", err, acc.Content)
	}
	for _, r := range e.fake.Requests() {
		if r.Header.Get("X-Api-Key") != itKey || r.Header.Get("Authorization") != "" {
			t.Fatalf("upstream auth headers: %v", r.Header)
		}
	}
	tester.AssertGetResponse("http://localhost:9080/elsewhere", 200, "backend:/elsewhere")

	// The embedded store holds the session: reach it through the same pool.
	st, err := store.Open(store.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	keys, _ := auth.NewKeyring(st.EmbeddedSecret())
	lineage := session.Lineage(keys.Namespace(auth.Credential{Scheme: auth.SchemeAPIKey, Value: itKey}), "claude-sonnet-4-5", "", "", "first")
	var cands map[string]int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cands, err = st.Candidates(context.Background(), lineage); err == nil && len(cands) == 1 {
			break // the turn's state is written just after its answer
		}
	}
	if err != nil || len(cands) != 1 {
		t.Fatalf("candidates %v %v", cands, err)
	}

	// A reload keeps the embedded state: the next turn continues the session.
	tester.InitServer(e.caddyfile("max_body 16MiB"), "caddyfile")
	sdkTurn(t, c, "first", "ok (turn 1)", "second", "ok (turn 2)", "third")
	for id := range cands {
		var sess *store.Session
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if sess, err = st.LoadSession(context.Background(), id); err == nil && sess != nil && sess.Turns == 3 {
				break
			}
		}
		if err != nil || sess == nil || sess.Turns != 3 {
			t.Fatalf("after reload: %+v %v", sess, err)
		}
	}
}

func TestIntegrationExternalRedisReloads(t *testing.T) {
	e := newITEnv(t)
	mr := miniredis.RunT(t)
	tester := caddytest.NewTester(t)
	conf := func(extra string) string {
		return e.caddyfile(fmt.Sprintf("redis %s\n\t\tcredential_key %s\n\t\t%s", mr.Addr(), itSecret, extra))
	}
	tester.InitServer(conf(""), "caddyfile")
	c := sdkClient(t)
	sdkTurn(t, c, "reload me")
	// A client per reload would open at least one new connection per reload
	// (even if the old client were closed); the shared pool opens new ones
	// only for concurrent use, up to a small bound. Total connections ever
	// accepted is immune to the timing of background commits.
	reloads := []string{"max_body 8MiB", "retention 48h", "max_body 4MiB", "max_body 5MiB", "retention 49h", "max_body 6MiB",
		"max_body 7MiB", "retention 50h", "max_body 9MiB", "retention 51h", "max_body 10MiB", "retention 52h"}
	before := mr.TotalConnectionCount()
	for i, extra := range reloads {
		tester.InitServer(conf(extra), "caddyfile")
		sdkTurn(t, c, "reload me")
		t.Logf("reload %d: %d redis connections open, %d accepted in total", i+1, mr.CurrentConnectionCount(), mr.TotalConnectionCount())
	}
	if opened := mr.TotalConnectionCount() - before; opened >= len(reloads)/2 {
		t.Fatalf("%d new redis connections over %d reloads: the client is not shared across reloads", opened, len(reloads))
	}
	states := 0
	for _, k := range mr.Keys() {
		if strings.HasSuffix(k, "}:state") {
			states++
		}
		if v, err := mr.Get(k); err == nil && strings.Contains(v, itKey) {
			t.Fatal("plaintext credential in Redis")
		}
	}
	if states == 0 {
		t.Fatal("no session stored in the external Redis")
	}
}

func TestIntegrationLoadErrors(t *testing.T) {
	e := newITEnv(t)
	caddytest.AssertLoadError(t, e.caddyfile("redis 127.0.0.1:1"), "caddyfile", "credential_key is required with an external redis")
	caddytest.AssertLoadError(t, e.caddyfile("credential_key short"), "caddyfile", "credential_key")
	caddytest.AssertLoadError(t, e.caddyfile("bogus 1"), "caddyfile", "unrecognized lore subdirective")
	caddytest.AssertLoadError(t, e.caddyfile("idle_timeout -1s"), "caddyfile", "idle_timeout must not be negative")
}

func TestIntegrationJSONConfig(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {"http_port": 9080, "servers": {"srv0": {"listen": [":9080"], "routes": [
		{"handle": [{"handler": "lore", "upstream": %q, "max_body": "1MiB", "retention": "1h"}]}
	]}}}}
}`, e.fake.URL()), "json")
	if got := sdkTurn(t, sdkClient(t), "json"); got != "ok (turn 1)" {
		t.Fatalf("got %q", got)
	}
}
