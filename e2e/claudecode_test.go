package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// claudeBinary installs @anthropic-ai/claude-code with npm into a cache
// directory (once per machine) and returns the path of the `claude`
// executable, or a reason to skip.
var claudeOnce struct {
	sync.Once
	path, skip string
}

func claudeBinary(t *testing.T) string {
	t.Helper()
	claudeOnce.Do(func() { claudeOnce.path, claudeOnce.skip = installClaude() })
	if claudeOnce.skip != "" {
		fmt.Printf("e2e: SKIP Claude Code check: %s\n", claudeOnce.skip)
		t.Skip("Claude Code check skipped: " + claudeOnce.skip)
	}
	return claudeOnce.path
}

func installClaude() (path, skip string) {
	if os.Getenv("LORE_E2E_SKIP_CLAUDE") == "1" {
		return "", "LORE_E2E_SKIP_CLAUDE=1"
	}
	if p := os.Getenv("LORE_E2E_CLAUDE"); p != "" {
		return p, ""
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "npm not found on PATH"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", "node not found on PATH"
	}
	dir := os.Getenv("LORE_E2E_NODE_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "no home directory for the npm cache dir (set LORE_E2E_NODE_DIR)"
		}
		dir = filepath.Join(home, ".cache", "lore-e2e", "node")
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "claude")
	if !usableClaude(bin) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "@anthropic-ai/claude-code")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Sprintf("npm install @anthropic-ai/claude-code failed (registry unreachable?): %v: %s", err, lastLines(string(out), 5))
		}
		fmt.Printf("e2e: installed @anthropic-ai/claude-code into %s\n", dir)
	}
	if usableClaude(bin) {
		return bin, ""
	}
	// The package's postinstall swaps the native binary in; if install
	// scripts did not run, its JS wrapper still works.
	wrapper := filepath.Join(dir, "node_modules", "@anthropic-ai", "claude-code", "cli-wrapper.cjs")
	if _, err := os.Stat(wrapper); err == nil {
		return wrapper, ""
	}
	return "", "claude executable not usable after npm install"
}

// usableClaude runs `claude --version`.
func usableClaude(bin string) bool {
	if _, err := os.Stat(bin); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	return err == nil && strings.Contains(string(out), "Claude Code")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runClaude runs `claude -p prompt --output-format json` against base with
// the given auth environment and returns the parsed result.
// home is Claude Code's HOME (its config and session transcripts); the
// working directory is home/work.
func runClaude(t *testing.T, bin, home, base, prompt string, authEnv []string, extraArgs ...string) map[string]any {
	t.Helper()
	return runClaudeFor(t, 120*time.Second, bin, home, base, prompt, authEnv, extraArgs...)
}

// runClaudeFor is runClaude with a time limit of its own.
func runClaudeFor(t *testing.T, limit time.Duration, bin, home, base, prompt string, authEnv []string, extraArgs ...string) map[string]any {
	t.Helper()
	args := append([]string{"-p", prompt, "--output-format", "json"}, extraArgs...)
	if m := os.Getenv("LORE_E2E_CLAUDE_MODEL"); m != "" {
		args = append(args, "--model", m)
	}
	return execClaude(t, bin, home, base, args, "", limit, authEnv)
}

// execClaude runs claude with args (and stdin, when not empty) in a clean
// environment and returns its parsed JSON output.
func execClaude(t *testing.T, bin, home, base string, args []string, stdin string, timeout time.Duration, authEnv []string) map[string]any {
	t.Helper()
	work := filepath.Join(home, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if strings.HasSuffix(bin, ".cjs") {
		cmd = exec.CommandContext(ctx, "node", append([]string{bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Dir = work
	// A clean environment: nothing of the developer's own Claude setup leaks in.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + home,
		"ANTHROPIC_BASE_URL=" + base,
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"CI=1",
	}, authEnv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("claude -p: %v\nstdout: %s\nstderr: %s", err, truncate(stdout.Bytes(), 2000), truncate(stderr.Bytes(), 2000))
	}
	var res map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("claude output is not JSON: %v\n%s", err, truncate(stdout.Bytes(), 2000))
	}
	if res["is_error"] == true {
		t.Fatalf("claude reported an error: %s", truncate(stdout.Bytes(), 2000))
	}
	return res
}

// Claude Code, once with ANTHROPIC_API_KEY and once with
// CLAUDE_CODE_OAUTH_TOKEN, through the gateway: the upstream sees only the
// caller's own credential in the caller's scheme, and the turn is stored.
func TestClaudeCode(t *testing.T) {
	bin := claudeBinary(t)
	e := NewEnv(t, EnvOptions{})

	t.Run("api-key", func(t *testing.T) {
		e.Fake.Reset()
		p1 := "say hi " + randHex(4)
		home := t.TempDir()
		res := runClaude(t, bin, home, e.URL, p1, []string{"ANTHROPIC_API_KEY=" + e.Creds.Alice})
		msgs := e.Requests("/v1/messages")
		if len(msgs) == 0 {
			t.Fatalf("fake received no /v1/messages; all: %s", describeRequests(e))
		}
		for _, r := range msgs {
			checkAPIKeyOnly(t, r.Header, e.Creds.Alice)
			if betaHas(r.Header, "oauth-2025-04-20") {
				t.Errorf("api-key turn carries the oauth beta")
			}
		}
		checkClaudeTurn(t, e, res, p1, msgs[len(msgs)-1].Body, msgs[len(msgs)-1].Header)
		t.Logf("claude (api key) sent: %s", describeRequests(e))

		// A second turn of the same Claude Code session (--resume) continues
		// the same gateway session when Claude Code keeps its session id.
		sid, _ := res["session_id"].(string)
		p2 := "say hi again " + randHex(4)
		res2 := runClaude(t, bin, home, e.URL, p2, []string{"ANTHROPIC_API_KEY=" + e.Creds.Alice}, "--resume", sid)
		msgs = e.Requests("/v1/messages")
		for _, r := range msgs {
			checkAPIKeyOnly(t, r.Header, e.Creds.Alice)
		}
		checkClaudeTurn(t, e, res2, p2, msgs[len(msgs)-1].Body, msgs[len(msgs)-1].Header)
		if sid2, _ := res2["session_id"].(string); sid2 == sid {
			dump := waitDump(t, e, p1, p2)
			if !overlap(KeysContaining(dump, p1), KeysContaining(dump, p2)) {
				t.Errorf("claude --resume %s went to a different gateway session", sid)
			}
		} else {
			t.Logf("claude --resume gave a new session id %s (was %s)", sid2, sid)
		}
	})

	t.Run("oauth", func(t *testing.T) {
		e.Fake.Reset()
		p := "say hi " + randHex(4)
		res := runClaude(t, bin, t.TempDir(), e.URL, p, []string{"CLAUDE_CODE_OAUTH_TOKEN=" + e.Creds.OAuth})
		msgs := e.Requests("/v1/messages")
		if len(msgs) == 0 {
			t.Fatalf("fake received no /v1/messages; all: %s", describeRequests(e))
		}
		for _, r := range msgs {
			checkBearerOnly(t, r.Header, e.Creds.OAuth)
		}
		checkClaudeTurn(t, e, res, p, msgs[len(msgs)-1].Body, msgs[len(msgs)-1].Header)
		t.Logf("claude (oauth) sent: %s", describeRequests(e))
	})
}

// checkClaudeTurn: Claude Code got an answer, and its session id (from
// metadata.user_id) reached the upstream intact.
func checkClaudeTurn(t *testing.T, e *Env, res map[string]any, prompt string, body []byte, h map[string][]string) {
	t.Helper()
	if r, _ := res["result"].(string); r == "" {
		t.Errorf("claude result empty: %v", res)
	}
	sid, _ := res["session_id"].(string)
	if sid == "" {
		t.Errorf("claude output without session_id")
		return
	}
	if !strings.Contains(string(body), sid) {
		t.Errorf("upstream body lacks Claude Code's session id %s (metadata.user_id)", sid)
	}
	if got := strings.Join(h["X-Claude-Code-Session-Id"], ","); got != "" && got != sid {
		t.Errorf("x-claude-code-session-id %q != session_id %q", got, sid)
	}
	waitDump(t, e, prompt) // the turn was stored
}

func describeRequests(e *Env) string {
	var parts []string
	for _, r := range e.Fake.Requests() {
		p := r.Method + " " + r.Path
		if r.RawQuery != "" {
			p += "?" + r.RawQuery
		}
		parts = append(parts, fmt.Sprintf("%s [beta=%s ua=%s]", p, r.Header.Get("Anthropic-Beta"), r.Header.Get("User-Agent")))
	}
	return strings.Join(parts, "; ")
}
