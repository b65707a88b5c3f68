package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// runClaudeStdin is runClaude with the prompt read from stdin (prompts far
// larger than a command-line argument may be).
func runClaudeStdin(t *testing.T, bin, home, base, prompt string, authEnv []string, extraArgs ...string) map[string]any {
	t.Helper()
	return execClaude(t, bin, home, base, append([]string{"-p", "--output-format", "json"}, extraArgs...), prompt, 180*time.Second, authEnv)
}

// notes is n bytes of varied prose, as pasted logs or files would be.
func notes(rng *rand.Rand, n int) string {
	words := []string{"parser", "token", "cache", "redis", "handler", "stream", "retry", "window", "layer", "batch",
		"session", "commit", "distil", "budget", "upstream", "header", "timeout", "lease", "queue", "result"}
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "line %d: the %s %s the %s after %d ms; ", b.Len(), words[rng.Intn(20)], words[rng.Intn(20)], words[rng.Intn(20)], rng.Intn(1000))
		if rng.Intn(8) == 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// distillCalls counts the worker's distillation requests the fake received
// (their prompt asks for an <observations> block; Go's JSON escapes the
// angle brackets).
func distillCalls(e *Env) int {
	n := 0
	for _, r := range e.Requests("/v1/messages") {
		var b struct {
			System []struct {
				Text string `json:"text"`
			} `json:"system"`
		}
		if json.Unmarshal(r.Body, &b) == nil && len(b.System) == 1 && strings.Contains(b.System[0].Text, "<observations>") {
			n++
		}
	}
	return n
}

// Claude Code with an OAuth token replaced mid-session, without
// `identity`. The session is pushed past the window under the first token
// (so it has distillations); then `claude --resume` runs with a new token.
// Its first turn continues the session by proof of history: the upstream
// request has the distilled prefix, and no urgent distillation of everything
// follows.
func TestClaudeCodeTokenRefresh(t *testing.T) {
	bin := claudeBinary(t)
	e := NewEnv(t, EnvOptions{LoreExtra: "idle_timeout 0\nknowledge off\nbatching off", Fake: fakeupstream.Options{}})
	home := t.TempDir()
	rng := rand.New(rand.NewSource(11))
	model := []string{"--model", "claude-opus-4-5"} // a 200K window (no 1M beta)
	auth1 := []string{"CLAUDE_CODE_OAUTH_TOKEN=" + e.Creds.OAuth}

	res := runClaudeStdin(t, bin, home, e.URL, "Read these notes and say ok.\n"+notes(rng, 150_000), auth1, model...)
	sid, _ := res["session_id"].(string)
	if sid == "" {
		t.Fatal("no session id")
	}
	var turns int
	for turns = 2; turns <= 8 && distillCalls(e) == 0; turns++ {
		res = runClaudeStdin(t, bin, home, e.URL, "More notes, say ok.\n"+notes(rng, 150_000), auth1, append(model, "--resume", sid)...)
		if got, _ := res["session_id"].(string); got != sid {
			t.Skipf("claude --resume changed the session id (%s → %s): no client session id to continue", sid, got)
		}
	}
	rc := e.Redis.Client()
	ctx := context.Background()
	if !waitFor(20*time.Second, func() bool {
		keys, _ := rc.Keys(ctx, "lore:s:{*}:dist:rows").Result()
		return len(keys) > 0
	}) {
		t.Fatalf("no distillation after %d turns past the window:\n%s", turns-1, e.Caddy.LogTail(40))
	}
	before := distillCalls(e)
	sessionsBefore, _ := rc.Keys(ctx, "lore:s:{*}:state").Result()

	// The token is refreshed.
	n := len(e.Requests("/v1/messages"))
	runClaudeStdin(t, bin, home, e.URL, "The token changed; say ok.", []string{"CLAUDE_CODE_OAUTH_TOKEN=" + e.Creds.OAuth2}, append(model, "--resume", sid)...)
	var turn []byte
	for _, r := range e.Requests("/v1/messages")[n:] {
		if r.Header.Get("Authorization") == "Bearer "+e.Creds.OAuth2 && strings.Contains(string(r.Body), "The token changed") {
			turn = r.Body
		}
		if r.Header.Get("Authorization") == "Bearer "+e.Creds.OAuth {
			t.Error("a request after the refresh used the old token")
		}
	}
	if turn == nil {
		t.Fatalf("the turn under the new token did not reach the upstream: %s", describeRequests(e))
	}
	if !strings.Contains(string(turn), "## Session History") || !strings.Contains(string(turn), "distilled") {
		t.Fatalf("the first turn under the new token has no distilled prefix (%d bytes)\n%s", len(turn), e.Caddy.LogTail(30))
	}
	time.Sleep(time.Second) // an urgent distillation would start right after the answer
	if after := distillCalls(e); after != before {
		t.Errorf("%d distillation calls after the refresh, want none", after-before)
	}
	sessionsAfter, _ := rc.Keys(ctx, "lore:s:{*}:state").Result()
	if len(sessionsAfter) != len(sessionsBefore)+1 {
		t.Errorf("sessions before %d, after %d: the refresh should continue in one new session", len(sessionsBefore), len(sessionsAfter))
	}
	if !strings.Contains(e.Caddy.Log(), "session continued by proof of history") {
		t.Error("the gateway did not log the continuation")
	}
	t.Logf("%d turns under the first token, %d distillation calls; the first turn under the new token: %d bytes, distilled prefix, no new distillation",
		turns-1, before, len(turn))
}

// Another person presents the same client session id and first
// message (Claude Code's transcript as it was after the first turn, resumed
// with their own token). Their request carries a prefix of the first
// person's history only, so it continues nothing: none of the first
// person's later messages or distillations reaches their upstream request.
func TestClaudeCodeSameSessionIDOtherPerson(t *testing.T) {
	bin := claudeBinary(t)
	e := NewEnv(t, EnvOptions{LoreExtra: "idle_timeout 0\nknowledge off\nbatching off"})
	home := t.TempDir()
	rng := rand.New(rand.NewSource(12))
	model := []string{"--model", "claude-opus-4-5"}
	alice := []string{"CLAUDE_CODE_OAUTH_TOKEN=" + e.Creds.OAuth}
	res := runClaudeStdin(t, bin, home, e.URL, "Shared first message: plan the refactor.", alice, model...)
	sid, _ := res["session_id"].(string)
	snapshot := filepath.Join(t.TempDir(), "claude-snapshot")
	if out, err := exec.Command("cp", "-a", filepath.Join(home, ".claude"), snapshot).CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v %s", err, out)
	}
	secret := "alice-private-" + randHex(6)
	for turn := 2; turn <= 8 && distillCalls(e) == 0; turn++ {
		res = runClaudeStdin(t, bin, home, e.URL, "Private notes "+secret+", say ok.\n"+notes(rng, 150_000), alice, append(model, "--resume", sid)...)
		if got, _ := res["session_id"].(string); got != sid {
			t.Skipf("claude --resume changed the session id (%s → %s)", sid, got)
		}
	}
	if distillCalls(e) == 0 {
		t.Fatal("alice's session was never distilled")
	}
	// Bob resumes the transcript as it was after the first turn.
	if err := os.RemoveAll(filepath.Join(home, ".claude")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", snapshot, filepath.Join(home, ".claude")).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	n := len(e.Requests("/v1/messages"))
	runClaudeStdin(t, bin, home, e.URL, "Bob here: what was planned?", []string{"CLAUDE_CODE_OAUTH_TOKEN=" + e.Creds.OAuth2}, append(model, "--resume", sid)...)
	var bobs int
	for _, r := range e.Requests("/v1/messages")[n:] {
		if r.Header.Get("Authorization") != "Bearer "+e.Creds.OAuth2 {
			t.Errorf("a request after alice's session used %q", r.Header.Get("Authorization")[:12])
			continue
		}
		bobs++
		body := string(r.Body)
		if strings.Contains(body, secret) || strings.Contains(body, "## Session History") || strings.Contains(body, "distilled") {
			t.Fatal("alice's history reached bob's upstream request")
		}
		if !strings.Contains(body, "Shared first message") {
			t.Error("bob's request lacks the shared first message (the test is not what it claims)")
		}
	}
	if bobs == 0 {
		t.Fatal("bob's turn did not reach the upstream")
	}
	if strings.Contains(e.Caddy.Log(), "session continued by proof of history") {
		t.Error("bob's request continued alice's session")
	}
}
