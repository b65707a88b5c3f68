package lore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// The {http.lore.*} placeholders in Caddy's access log (log_append) and in a
// deferred response header.
func TestIntegrationRequestPlaceholders(t *testing.T) {
	e := newITEnv(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	var appends strings.Builder
	fields := []string{"route", "class", "layer", "session", "credential", "tokens.input", "tokens.output",
		"tokens.cache_read", "tokens.cache_write", "cost_usd", "saved_usd", "retried"}
	for _, f := range fields {
		fmt.Fprintf(&appends, "\tlog_append lore_%s {http.lore.%s}\n", strings.ReplaceAll(f, ".", "_"), f)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(itGlobal+fmt.Sprintf(`http://localhost:9080 {
	log {
		output file %s
		format filter {
			wrap json
			request>headers>X-Api-Key delete
		}
	}
%s	header >X-Lore-Layer {http.lore.layer}
	lore {
		upstream %s
	}
	reverse_proxy %s
}
`, logFile, appends.String(), e.fake.URL(), strings.TrimPrefix(e.backend.URL, "http://")), "caddyfile")

	// A turn (JSON), the next turn of the session (SSE), a passthrough.
	var hdr http.Header
	c := gatewayClient(itKey,
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			resp, err := next(r)
			if err == nil && r.URL.Path == "/v1/messages" {
				hdr = resp.Header
			}
			return resp, err
		}))
	usageTurn(t, c, "placeholder turn one")
	if got := hdr.Get("X-Lore-Layer"); got != "0" {
		t.Fatalf("X-Lore-Layer = %q, want 0", got)
	}
	time.Sleep(100 * time.Millisecond) // the first turn's commit
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256, System: []anthropic.TextBlockParam{{Text: itSystem}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("placeholder turn one")),
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("ok (turn 1)")),
			anthropic.NewUserMessage(anthropic.NewTextBlock("placeholder turn two")),
		},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "bash", InputSchema: anthropic.ToolInputSchemaParam{}}},
			{OfTool: &anthropic.ToolParam{Name: "read", InputSchema: anthropic.ToolInputSchemaParam{}}},
			{OfTool: &anthropic.ToolParam{Name: "edit", InputSchema: anthropic.ToolInputSchemaParam{}}}},
	})
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("X-Lore-Layer"); got != "0" {
		t.Fatalf("streamed X-Lore-Layer = %q, want 0", got)
	}
	if _, err := c.Models.List(context.Background(), anthropic.ModelListParams{}); err != nil {
		t.Fatal(err)
	}

	// Access log lines are written after the response; wait for three.
	var entries []map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(entries) < 3; time.Sleep(50 * time.Millisecond) {
		entries = readAccessLog(t, logFile)
	}
	if len(entries) != 3 {
		t.Fatalf("access log has %d lines, want 3", len(entries))
	}
	raw, _ := os.ReadFile(logFile)
	// Caddy redacts Authorization and Cookie in access logs itself, not
	// x-api-key: the filter above deletes it (docs/operations.md, Request placeholders).
	if strings.Contains(string(raw), itKey) {
		t.Fatal("the access log holds the credential")
	}
	first, second, models := entries[0], entries[1], entries[2]
	for i, turn := range []map[string]any{first, second} {
		if turn["lore_route"] != "messages" || turn["lore_class"] != "turn" || turn["lore_layer"] != 0.0 || turn["lore_retried"] != false {
			t.Errorf("turn %d: %v", i, turn)
		}
		fp, _ := turn["lore_credential"].(string)
		sid, _ := turn["lore_session"].(string)
		if !hex12.MatchString(fp) || sid == "" || strings.Contains(sid, itKey) {
			t.Errorf("turn %d: credential %q, session %q", i, fp, sid)
		}
		in, _ := turn["lore_tokens_input"].(float64)
		cr, _ := turn["lore_tokens_cache_read"].(float64)
		cw, _ := turn["lore_tokens_cache_write"].(float64)
		out, _ := turn["lore_tokens_output"].(float64)
		cost, _ := turn["lore_cost_usd"].(float64)
		if in+cr+cw <= 0 || out <= 0 || cost <= 0 {
			t.Errorf("turn %d: tokens/cost %v", i, turn)
		}
		if _, ok := turn["lore_saved_usd"].(float64); !ok {
			t.Errorf("turn %d: saved_usd %v", i, turn["lore_saved_usd"])
		}
	}
	if first["lore_session"] != second["lore_session"] || first["lore_credential"] != second["lore_credential"] {
		t.Errorf("the two turns are one session of one credential: %v / %v", first, second)
	}
	if second["lore_tokens_cache_read"].(float64) <= 0 {
		t.Errorf("the second turn reads the first one's cache: %v", second)
	}
	// Passthrough: route, class and credential; the rest does not apply.
	if models["lore_route"] != "passthrough" || models["lore_class"] != "passthrough" || models["lore_credential"] != first["lore_credential"] {
		t.Errorf("passthrough: %v", models)
	}
	for _, f := range []string{"lore_layer", "lore_session", "lore_tokens_input", "lore_cost_usd", "lore_retried"} {
		if v, ok := models[f]; !ok || v != nil {
			t.Errorf("passthrough %s = %v, want null", f, v)
		}
	}
}

func readAccessLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "handled request" {
			out = append(out, m)
		}
	}
	return out
}
