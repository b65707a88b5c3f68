package lore

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestIntegrationStatusPageBrowser loads the status page in headless
// Chromium (Debian's `chromium`) after a run, asserts the rendered DOM shows
// the session rows and the chart, and saves a screenshot as a test artifact
// in $LORE_ARTIFACTS (default: the OS temp dir). Skipped without chromium.
//
// Caddy's admin endpoint refuses browser navigations (a Sec-Fetch-Mode
// header without an allowed Origin is its cross-site mitigation), so the
// browser reaches the page through a GET-only proxy that drops those headers,
// as an operator would (docs/operations.md, Admin API and status page).
func TestIntegrationStatusPageBrowser(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium in PATH")
	}
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(""), "caddyfile")
	c := sdkClient(t)
	usageTurn(t, c, "browser one")
	time.Sleep(50 * time.Millisecond)
	usageTurn(t, c, "browser one", "ok (turn 1)", "browser two")
	// The turn is stored just after its answer: wait until the admin API
	// shows it before rendering the page.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://localhost:2999/lore/sessions")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if strings.Contains(string(b), `"turns":2`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's second turn never appeared in /lore/sessions")
		}
	}

	admin, _ := url.Parse("http://localhost:2999")
	rp := httputil.NewSingleHostReverseProxy(admin)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/lore/" {
			http.NotFound(w, r)
			return
		}
		for _, h := range []string{"Origin", "Referer", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest", "Sec-Fetch-User"} {
			r.Header.Del(h)
		}
		r.Host = admin.Host
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	page := proxy.URL + "/lore/"

	dir := os.Getenv("LORE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "caddy-lore-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "status-page.png")
	_ = os.Remove(shot)
	profile := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--user-data-dir=" + profile, "--window-size=1280,900"}
		cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.Bytes()
	}
	dom := string(run("--dump-dom", page))
	if !strings.Contains(dom, "<svg") || strings.Count(dom, `class="session"`) < 1 || !strings.Contains(dom, "claude-sonnet-4-5") {
		t.Fatalf("rendered page lacks the session rows or the chart:\n%s", dom)
	}
	// Per-person usage: the table and the per-day cost chart (30 days,
	// today's bar drawn).
	if !strings.Contains(dom, `<section id="usage">`) || strings.Count(dom, `class="person"`) < 1 ||
		strings.Count(dom, `class="day"`) != 30 || !regexp.MustCompile(`class="day"[^>]*height="[1-9]`).MatchString(dom) {
		t.Fatalf("rendered page lacks the usage table or the per-day cost chart:\n%s", dom)
	}
	if strings.Contains(dom, itKey) || strings.Contains(dom, "browser one") {
		t.Fatal("the page shows a credential or message text")
	}
	run("--screenshot="+shot, page)
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot saved to %s", shot)
}
