package distill

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
)

// Compact: a forced urgent distillation, then one urgent compaction call
// over the rows (docs/architecture.md, Compaction requests); the summary text is returned.
func TestCompact(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, true)
	seed(t, e, "s1")
	if _, err := in.d.Idle(ctx, "s1"); err != nil { // fold the seeded rows into a meta row
		t.Fatal(err)
	}
	in.drain(t)
	e.add(t, "s1", 8, apiKey)

	summary, err := in.d.Compact(ctx, "s1", "  ## Goal\nold goal\n", "")
	if err != nil || summary != "ok (turn 1)" {
		t.Fatalf("Compact = %q, %v", summary, err)
	}
	reqs := e.requests()
	if len(reqs) != 3 || in.q.Len() != 0 {
		t.Fatalf("%d requests, %d queued; want meta + distillation + compaction, nothing queued", len(reqs), in.q.Len())
	}
	sys, user := body(t, reqs[2])
	wantUser := "## Lore Pre-computed Session Summaries\n\n" +
		"The session so far has been distilled into 2 chunks, oldest first.\n\n" +
		"### Chunk 1 (consolidated)\n- distilled 0 messages\n\n" +
		"### Chunk 2\n- distilled 8 messages\n\n---\n\n" +
		"Write the summary that will replace the conversation so far. It will be the only context for the next part of this session." +
		" The pre-computed session summaries above were written from the full conversation as it happened: treat them as authoritative and build the summary from them." +
		"\n\nUpdate the anchored summary below in place: keep what is still true, revise what changed, drop what is obsolete, and add what is new.\n\n" +
		"<previous-summary>\n## Goal\nold goal\n</previous-summary>\n\n" + compactTemplate
	if sys != CompactSystem || user != wantUser {
		t.Errorf("compaction prompt: system %.60q…, user\n%s", sys, user)
	}
	for _, section := range []string{"## Goal", "## Constraints & Preferences", "## Progress", "### Done", "### In Progress",
		"### Blocked", "## Key Decisions", "## Next Steps", "## Critical Context", "## Relevant Files", `"(none)"`, `"I'm ready to continue."`} {
		if !strings.Contains(compactTemplate, section) {
			t.Errorf("template lacks %s", section)
		}
	}
	p := jsonOf(t, reqs[2].Body)
	if p["model"] != "claude-haiku-4-5" || p["max_tokens"] != float64(8192) {
		t.Errorf("model %v, max_tokens %v", p["model"], p["max_tokens"])
	}

	// A named model is used; without rows (three empty distillation answers
	// leave s2 with none) the prompt stands alone.
	e.add(t, "s2", 2, apiKey)
	in2 := e.instance(t, auth.Credential{}, false)
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 200, Count: 3,
		Body: `{"type":"message","role":"assistant","content":[{"type":"text","text":""}]}`})
	summary, err = in2.d.Compact(ctx, "s2", "", "claude-sonnet-4-5")
	if err != nil || summary != "ok (turn 1)" {
		t.Fatalf("Compact without rows = %q, %v", summary, err)
	}
	reqs = e.requests()
	_, user = body(t, reqs[len(reqs)-1])
	if want := compactPrompt(false, ""); user != want || !strings.HasPrefix(want, "Write the summary") ||
		jsonOf(t, reqs[len(reqs)-1].Body)["model"] != "claude-sonnet-4-5" {
		t.Errorf("compaction without rows: user %.80q", user)
	}
}

// The handler forwards the request upstream when Compact fails.
func TestCompactFailure(t *testing.T) {
	e := newEnv(t)
	in := e.instance(t, auth.Credential{}, false)
	e.add(t, "s1", 6, apiKey)
	// Three rounds of distillation and the compaction call all get a 529:
	// the summary fails, the messages stay undistilled, the guard is free.
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 529, Count: 4})
	_, err := in.d.Compact(ctx, "s1", "", "")
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 529 || apiErr.Type != "overloaded_error" {
		t.Fatalf("Compact on 529 = %v", err)
	}
	if len(e.requests()) != 4 || e.guarded("s1") || e.undistilled(t, "s1") != 6 {
		t.Errorf("%d requests, guarded %v, %d undistilled", len(e.requests()), e.guarded("s1"), e.undistilled(t, "s1"))
	}

	// An empty summary is a failure too (a session with nothing to distil,
	// so the compaction call is the only one).
	e.add(t, "s3", 0, apiKey)
	e.up.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 200, Count: 1,
		Body: `{"type":"message","role":"assistant","content":[{"type":"text","text":"  "}]}`})
	if _, err := in.d.Compact(ctx, "s3", "", ""); !errors.Is(err, ErrEmpty) || len(e.requests()) != 5 {
		t.Fatalf("Compact with an empty summary = %v (%d requests), want ErrEmpty after 5", err, len(e.requests()))
	}

	// No credential at all: no call is made.
	none := e.instance(t, auth.Credential{}, false)
	e.add(t, "anon", 6, auth.Credential{})
	before := len(e.requests())
	if _, err := none.d.Compact(ctx, "anon", "", ""); !errors.Is(err, llm.ErrNoCredential) {
		t.Errorf("Compact without credential = %v, want ErrNoCredential", err)
	}
	if len(e.requests()) != before {
		t.Errorf("%d requests made without a credential", len(e.requests())-before)
	}
}

func jsonOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
