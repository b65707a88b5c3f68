package handler

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/llmtest"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/llm"
)

// syncKnowledge is the real curator; settle waits for the curation the
// handler runs after a turn.
type syncKnowledge struct{ *knowledge.Curator }

func TestAppendSystemBlock(t *testing.T) {
	cases := map[string]string{
		``:           `[{"type":"text","text":"K"}]`,
		`null`:       `[{"type":"text","text":"K"}]`,
		`"be brief"`: `[{"type":"text","text":"be brief"},{"type":"text","text":"K"}]`,
		`[]`:         `[{"type":"text","text":"K"}]`,
		`[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]`: `[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"K"}]`,
		`{"not":"valid"}`: `{"not":"valid"}`,
	}
	for in, want := range cases {
		if got := string(appendSystemBlock([]byte(in), "K")); got != want {
			t.Errorf("appendSystemBlock(%s) = %s, want %s", in, got, want)
		}
	}
}

// systemTexts returns the text of each system block the upstream received.
func systemTexts(t *testing.T, body []byte) []string {
	t.Helper()
	var b struct {
		System json.RawMessage `json:"system"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b.System, &blocks); err != nil {
		return nil // a string: no block of ours
	}
	out := make([]string, len(blocks))
	for i, bl := range blocks {
		out[i] = bl.Text
	}
	return out
}

// The knowledge flow through turns: known entries reach the system prompt from
// the first turn, byte-stable; curation every 3 turns adds an entry, which the
// session sees once it comes back from idle (docs/knowledge-and-recall.md,
// Long-term knowledge: Prompt cache).
func TestKnowledgeThroughTurns(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IdleResume = 5 * time.Minute })
	up, _ := url.Parse(e.fake.URL())
	w := llm.New(llm.Config{Upstream: up, Keys: e.keys, Blobs: e.store, Logger: e.h.log})
	t.Cleanup(w.Close)
	q := &llmtest.Queue{}
	w.SetQueue(q)
	e.h.cfg.Knowledge = syncKnowledge{knowledge.New(knowledge.Config{Store: e.store, Worker: w})}

	ns := e.keys.Namespace(auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA})
	seed := knowledge.Entry{ID: "k1", Project: knowledge.DefaultProject, Category: "gotcha", Title: "Flaky ports",
		Content: "caddytest binds 2999 and 9080", Confidence: 1}
	if err := knowledge.Apply(context.Background(), e.store, ns, knowledge.DefaultProject, knowledge.Change{Put: []knowledge.Entry{seed}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	seeded := "## Long-term Knowledge\n\n### Gotcha\n- **Flaky ports**: caddytest binds 2999 and 9080"

	turn := func(n int) []string {
		t.Helper()
		body := conversation("first [[remember:Test command=go test -race ./...]]", n, "")
		if code, _, resp := e.post("/v1/messages", body, "x-api-key", keyA); code != 200 {
			t.Fatalf("turn %d: %d %s", n, code, resp)
		}
		return systemTexts(t, e.lastUpstream("/v1/messages").Body)
	}
	first := turn(1)
	if len(first) != 2 || first[1] != seeded {
		t.Fatalf("turn 1 system blocks = %q", first)
	}
	turn(2)
	if q.Len() != 0 {
		t.Fatal("curation before 3 turns")
	}
	turn(3)
	if q.Len() != 1 {
		t.Fatalf("after 3 turns %d calls queued, want 1 curation", q.Len())
	}
	calls, creds := q.Take()
	text, err := w.Do(context.Background(), calls[0], creds[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(context.Background(), calls[0], text); err != nil {
		t.Fatal(err)
	}
	if got := turn(4); len(got) != 2 || got[1] != seeded {
		t.Fatalf("turn 4 (cache warm) system changed: %q", got)
	}
	e.h.now = func() time.Time { return time.Now().Add(6 * time.Minute) } // idle resume
	got := turn(5)
	if len(got) != 2 || !strings.Contains(got[1], "- **Test command**: go test -race ./...") || !strings.Contains(got[1], "**Flaky ports**") {
		t.Fatalf("after idle resume system = %q", got)
	}
	if again := turn(6); again[1] != got[1] {
		t.Fatal("knowledge block not byte-stable after idle resume")
	}
}
