package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// TestKnowledgeAcrossSessions: through the built gateway, real redis-server
// and the batch queue, a Claude Code session's durable facts are curated
// every 3 turns in a batch (kind "curate", billed to the session's own
// credential), stored under that credential and project, and injected into
// the system prompt of the same person's next session on the project — but
// not into another person's session on a project with the same path.
func TestKnowledgeAcrossSessions(t *testing.T) {
	e := NewEnv(t, EnvOptions{
		LoreExtra: "idle_timeout 0\nbatching {\nflush_interval 300ms\npoll_interval 300ms\n}",
		Fake:      fakeupstream.Options{BatchDelay: 100 * time.Millisecond},
	})
	rc := e.Redis.Client()
	alice := newCCClient(t, e.URL, e.Creds.Alice)
	facts := []string{
		"The tests need redis: [[remember:Test setup=start redis-server on 127.0.0.1:6399 before go test]]",
		"Remember this gotcha [[remember:Ports=caddytest binds the fixed ports 2999 and 9080]]",
		"thanks, carry on",
	}
	for i, f := range facts {
		if r := alice.send([]map[string]any{{"type": "text", "text": f}}, i%2 == 0); r.Status != 200 {
			t.Fatalf("turn %d: %d %s", i+1, r.Status, truncate(r.Body, 300))
		}
	}
	// The curation goes out in a batch; wait for its entries.
	var entries []map[string]any
	if !waitFor(20*time.Second, func() bool { entries = knowledgeEntries(t, rc); return len(entries) == 2 }) {
		t.Fatalf("knowledge entries after 20s: %v\n%s", entries, e.Caddy.LogTail(30))
	}
	var batched, curations int
	for _, r := range e.Fake.Requests() {
		if r.Path == "/v1/messages/batches" && r.Method == "POST" {
			for _, p := range batchParams(t, r.Body) {
				if strings.Contains(string(p), "knowledge curator of an AI coding assistant") {
					batched++
					if r.Header.Get("X-Api-Key") != e.Creds.Alice {
						t.Error("the curation was billed to another credential")
					}
				}
			}
		}
		if r.Path == "/v1/messages" && strings.Contains(string(r.Body), "knowledge curator of an AI coding assistant") {
			curations++
		}
	}
	if batched != 1 || curations != 0 {
		t.Fatalf("curations: %d batched, %d synchronous; want exactly 1 batched", batched, curations)
	}

	// Alice's next session on the same project starts with the knowledge.
	alice2 := newCCClient(t, e.URL, e.Creds.Alice)
	if r := alice2.send([]map[string]any{{"type": "text", "text": "why does go test fail with connection refused on redis?"}}, false); r.Status != 200 {
		t.Fatalf("new session: %d", r.Status)
	}
	sys := lastSystemBlocks(t, e)
	if len(sys) != 4 || !strings.HasPrefix(sys[3], "## Long-term Knowledge") ||
		!strings.Contains(sys[3], "**Test setup**: start redis-server on 127.0.0.1:6399 before go test") ||
		!strings.Contains(sys[3], "**Ports**: caddytest binds the fixed ports 2999 and 9080") {
		t.Fatalf("system blocks of the new session: %q", sys)
	}
	// Bob works in a directory with the same path: nothing of Alice's.
	bob := newCCClient(t, e.URL, e.Creds.Bob)
	if r := bob.send([]map[string]any{{"type": "text", "text": "why does go test fail with connection refused on redis?"}}, false); r.Status != 200 {
		t.Fatalf("bob: %d", r.Status)
	}
	if sys := lastSystemBlocks(t, e); len(sys) != 3 {
		t.Fatalf("another credential's session got knowledge: %q", sys)
	}
	e.CheckNoSecrets()
}

// knowledgeEntries returns every stored knowledge entry.
func knowledgeEntries(t *testing.T, c *redis.Client) []map[string]any {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "lore:kn:{*}:entries").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, k := range keys {
		for _, v := range c.HGetAll(ctx, k).Val() {
			var m map[string]any
			if json.Unmarshal([]byte(v), &m) == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// lastSystemBlocks returns the texts of the system blocks of the last turn
// the fake upstream received (worker calls excluded).
func lastSystemBlocks(t *testing.T, e *Env) []string {
	t.Helper()
	reqs := e.Fake.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		r := reqs[i]
		if r.Path != "/v1/messages" || strings.Contains(string(r.Body), "knowledge curator") {
			continue
		}
		var b struct {
			System []struct {
				Text string `json:"text"`
			} `json:"system"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(b.System))
		for j, s := range b.System {
			out[j] = s.Text
		}
		return out
	}
	t.Fatal("no turn reached the upstream")
	return nil
}

// TestRecallEndToEnd: through the built gateway, the model's recall call is
// answered from the session's own history (recall.Search on real Redis) and
// the continuation reaches the client as one message without the tool.
func TestRecallEndToEnd(t *testing.T) {
	e := NewEnv(t, EnvOptions{LoreExtra: "idle_timeout 0\nknowledge off"})
	c := newCCClient(t, e.URL, e.Creds.Alice)
	r := c.send([]map[string]any{{"type": "text", "text": "Start the services [[tool:Bash]]"}}, true)
	if r.Status != 200 || len(r.ToolUses) != 1 {
		t.Fatalf("turn 1: %d, %d tool uses", r.Status, len(r.ToolUses))
	}
	out := "redis-server started; the test instance listens on port 6399 with --save ''"
	if r = c.send([]map[string]any{{"type": "tool_result", "tool_use_id": r.ToolUses[0].ID, "content": out}}, false); r.Status != 200 {
		t.Fatalf("turn 2: %d", r.Status)
	}
	n0 := len(e.Fake.Requests())
	r = c.send([]map[string]any{{"type": "text", "text": "Which port did the test redis use? [[recall:test redis port]]"}}, true)
	if r.Status != 200 || len(r.ToolUses) != 0 || strings.Contains(string(r.Content), "recall") || r.Stop != "end_turn" {
		t.Fatalf("turn 3: %d stop %s content %s", r.Status, r.Stop, truncate(r.Content, 400))
	}
	var follow []byte
	for _, q := range e.Fake.Requests()[n0:] {
		if q.Path == "/v1/messages" && strings.Contains(string(q.Body), `"tool_result"`) && strings.Contains(string(q.Body), "Recall results for") {
			follow = q.Body
		}
	}
	if follow == nil || !strings.Contains(string(follow), "listens on port 6399") {
		t.Fatalf("no follow-up carrying the recalled passage reached the upstream (%d requests)", len(e.Fake.Requests())-n0)
	}
	e.CheckNoSecrets()
}
