package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// ---------------------------------------------------------------- TestMain

var caddyBin string

func TestMain(m *testing.M) {
	if os.Getenv("LORE_E2E") != "1" {
		fmt.Println("e2e: skipped (set LORE_E2E=1 to run; needs bin/caddy from scripts/build.sh and redis-server)")
		os.Exit(0)
	}
	caddyBin = os.Getenv("LORE_CADDY_BIN")
	if caddyBin == "" {
		caddyBin = filepath.Join("..", "bin", "caddy")
	}
	abs, err := filepath.Abs(caddyBin)
	if err == nil {
		caddyBin = abs
	}
	if _, err := os.Stat(caddyBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: caddy binary %s not found (run scripts/build.sh or set LORE_CADDY_BIN): %v\n", caddyBin, err)
		os.Exit(1)
	}
	out, err := exec.Command(caddyBin, "list-modules").Output()
	if err != nil || !bytes.Contains(out, []byte("http.handlers.lore")) {
		fmt.Fprintf(os.Stderr, "e2e: %s does not list http.handlers.lore (err=%v)\n", caddyBin, err)
		os.Exit(1)
	}
	if newer := newerSource(caddyBin); newer != "" {
		fmt.Fprintf(os.Stderr, "e2e: WARNING: %s is newer than %s; run scripts/build.sh to test the current code\n", newer, caddyBin)
	}
	os.Exit(m.Run())
}

// newerSource returns a module source file (outside e2e/) modified after bin.
func newerSource(bin string) string {
	st, err := os.Stat(bin)
	if err != nil {
		return ""
	}
	var found string
	_ = filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "e2e", "node_modules", ".e2e-tmp":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") || d.Name() == "go.mod" {
			if info, err := d.Info(); err == nil && info.ModTime().After(st.ModTime()) {
				found = p
			}
		}
		return nil
	})
	return found
}

// ---------------------------------------------------------------- helpers

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// waitFor polls cond every 50ms until it returns true or d elapses.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func tempDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("LORE_E2E_KEEP") == "1" {
		d, err := os.MkdirTemp("", "lore-e2e-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("keeping %s", d)
		return d
	}
	return t.TempDir()
}

// childAttr: children die with the test binary (SIGKILL on parent death).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// recordPID appends pid to $LORE_E2E_PIDFILE (if set), so a CI script that is
// interrupted can stop exactly the processes the tests started.
func recordPID(pid int) {
	p := os.Getenv("LORE_E2E_PIDFILE")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(f, "%d\n", pid)
	_ = f.Close()
}

// ---------------------------------------------------------------- Caddy process

// Caddy is one `caddy run` process with a Caddyfile; its stdout and stderr
// (Caddy logs to stderr) are appended to LogPath across restarts.
type Caddy struct {
	Bin        string
	Env        []string // extra environment (e.g. LORE_CREDENTIAL_KEY)
	Dir        string
	ConfigPath string
	LogPath    string
	AdminAddr  string
	SiteAddr   string // host:port the site listens on (readiness probe)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *Caddy) env() []string {
	env := os.Environ()
	// Keep Caddy's data/config dirs inside the test dir.
	env = append(env,
		"HOME="+c.Dir,
		"XDG_DATA_HOME="+filepath.Join(c.Dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Dir, "xdg-config"),
	)
	return append(env, c.Env...)
}

// Start launches Caddy and waits until the admin endpoint and the site answer.
func (c *Caddy) Start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.Bin, "run", "--config", c.ConfigPath, "--adapter", "caddyfile")
	cmd.Dir = c.Dir
	cmd.Env = c.env()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start caddy: %v", err)
	}
	recordPID(cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()

	ready := waitFor(20*time.Second, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		resp, err := http.Get("http://" + c.AdminAddr + "/config/")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == 200 && dialOK(c.SiteAddr)
	})
	select {
	case <-done:
		t.Fatalf("caddy exited during startup; log tail:\n%s", c.LogTail(60))
	default:
	}
	if !ready {
		t.Fatalf("caddy not ready after 20s; log tail:\n%s", c.LogTail(60))
	}
}

// Running reports whether the process is alive.
func (c *Caddy) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// WriteConfig replaces the Caddyfile on disk.
func (c *Caddy) WriteConfig(t testing.TB, caddyfile string) {
	t.Helper()
	if err := os.WriteFile(c.ConfigPath, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Reload writes a new Caddyfile and runs `caddy reload` against the admin endpoint.
func (c *Caddy) Reload(t testing.TB, caddyfile string) {
	t.Helper()
	c.WriteConfig(t, caddyfile)
	cmd := exec.Command(c.Bin, "reload", "--config", c.ConfigPath, "--adapter", "caddyfile", "--address", c.AdminAddr)
	cmd.Dir = c.Dir
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("caddy reload: %v\n%s\nlog tail:\n%s", err, out, c.LogTail(40))
	}
	if !waitFor(10*time.Second, func() bool { return dialOK(c.SiteAddr) }) {
		t.Fatalf("site not answering after reload; log tail:\n%s", c.LogTail(40))
	}
}

// Kill9 sends SIGKILL and waits for the process to be gone.
func (c *Caddy) Kill9(t testing.TB) {
	t.Helper()
	c.signal(syscall.SIGKILL, 10*time.Second, t)
}

// Stop asks Caddy to exit (SIGINT, graceful), then kills it after 10s.
func (c *Caddy) Stop(t testing.TB) {
	if !c.Running() {
		return
	}
	c.signal(syscall.SIGINT, 10*time.Second, nil)
	if c.Running() {
		c.signal(syscall.SIGKILL, 5*time.Second, t)
	}
}

// Restart starts the process again with the current Caddyfile.
func (c *Caddy) Restart(t testing.TB) {
	t.Helper()
	if c.Running() {
		c.Stop(t)
	}
	c.Start(t)
}

func (c *Caddy) signal(sig syscall.Signal, wait time.Duration, t testing.TB) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		if t != nil {
			t.Errorf("caddy (pid %d) did not exit within %s after %v", cmd.Process.Pid, wait, sig)
		}
	}
}

// Log returns the whole captured log.
func (c *Caddy) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the log.
func (c *Caddy) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(c.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------- the environment

// Credentials known to the fake upstream. Random per run so a grep of logs and
// Redis for them cannot hit anything else.
type creds struct {
	Alice, Bob, Carol string // api keys
	OAuth, OAuth2     string // OAuth (bearer) tokens
}

func newCreds() creds {
	return creds{
		Alice:  "sk-ant-api03-e2eAlice" + randHex(20),
		Bob:    "sk-ant-api03-e2eBob" + randHex(20),
		Carol:  "sk-ant-api03-e2eCarol" + randHex(20),
		OAuth:  "sk-ant-oat01-e2eOAuth" + randHex(20),
		OAuth2: "sk-ant-oat01-e2eOAuthTwo" + randHex(20),
	}
}

func (c creds) all() []string { return []string{c.Alice, c.Bob, c.Carol, c.OAuth, c.OAuth2} }

// EnvOptions shape one test environment.
type EnvOptions struct {
	NoRedis   bool   // embedded store instead of redis-server
	Upstream  string // default: the fake upstream's URL
	LoreExtra string // extra lines inside the lore block, e.g. "max_body 1MiB"
	NoDebug   bool   // omit the `debug` global option
	AccessLog bool   // enable the site's access log (with the x-api-key filter), to caddy.log too
	Global    string // extra lines inside the global options block, e.g. a servers block
	Fake      fakeupstream.Options
}

// Env is one test's world: redis-server, fake upstream, Caddy.
type Env struct {
	T        *testing.T
	Dir      string
	Opts     EnvOptions
	Creds    creds
	Key      string // credential_key (64 hex)
	Fake     *fakeupstream.Server
	Redis    *RedisServer
	Caddy    *Caddy
	SitePort int
	URL      string // http://127.0.0.1:SitePort

	secrets []string // every credential that must never appear in logs or Redis
}

// NewEnv starts everything and registers cleanup, which stops it all and
// checks that no credential leaked into Caddy's log or Redis.
func NewEnv(t *testing.T, opts EnvOptions) *Env {
	t.Helper()
	e := &Env{T: t, Dir: tempDir(t), Opts: opts, Creds: newCreds(), Key: randHex(32)}
	e.secrets = append(e.secrets, e.Creds.all()...)
	e.secrets = append(e.secrets, e.Key)

	fo := opts.Fake
	if fo.APIKeys == nil {
		fo.APIKeys = []string{e.Creds.Alice, e.Creds.Bob, e.Creds.Carol}
	}
	if fo.OAuthTokens == nil {
		fo.OAuthTokens = []string{e.Creds.OAuth, e.Creds.OAuth2}
	}
	e.Fake = fakeupstream.New(fo)
	t.Cleanup(e.Fake.Close)

	if !opts.NoRedis {
		e.Redis = StartRedis(t, filepath.Join(e.Dir, "redis"))
	}

	e.SitePort = freePort(t)
	e.URL = fmt.Sprintf("http://127.0.0.1:%d", e.SitePort)
	e.Caddy = &Caddy{
		Bin:        caddyBin,
		Dir:        e.Dir,
		ConfigPath: filepath.Join(e.Dir, "Caddyfile"),
		LogPath:    filepath.Join(e.Dir, "caddy.log"),
		AdminAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		SiteAddr:   fmt.Sprintf("127.0.0.1:%d", e.SitePort),
		Env:        []string{"LORE_CREDENTIAL_KEY=" + e.Key},
	}
	e.Caddy.WriteConfig(t, e.Caddyfile(opts.LoreExtra))
	t.Cleanup(func() {
		e.CheckAdminConfig()
		e.Caddy.Stop(t)
		e.CheckNoSecrets()
		if t.Failed() {
			t.Logf("caddy log tail (%s):\n%s", e.Caddy.LogPath, e.Caddy.LogTail(80))
		}
	})
	e.Caddy.Start(t)
	return e
}

// Caddyfile renders the config with extra lines inside the lore block.
func (e *Env) Caddyfile(loreExtra string) string {
	upstream := e.Opts.Upstream
	if upstream == "" {
		upstream = e.Fake.URL()
	}
	var b strings.Builder
	b.WriteString("{\n")
	fmt.Fprintf(&b, "\tadmin %s\n", e.Caddy.AdminAddr)
	if !e.Opts.NoDebug {
		b.WriteString("\tdebug\n")
	}
	b.WriteString("\tpersist_config off\n")
	if e.Opts.Global != "" {
		b.WriteString(e.Opts.Global + "\n")
	}
	fmt.Fprintf(&b, "\tstorage file_system %s\n", filepath.Join(e.Dir, "caddy-data"))
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "http://127.0.0.1:%d {\n", e.SitePort)
	if e.Opts.AccessLog {
		// Caddy's access log records request headers; it redacts
		// Authorization and Cookie itself but not x-api-key, so a team
		// gateway must filter it (docs/operations.md shows this block).
		b.WriteString("\tlog {\n\t\tformat filter {\n\t\t\trequest>headers>X-Api-Key replace REDACTED\n\t\t}\n\t}\n")
	}
	b.WriteString("\tlore {\n")
	fmt.Fprintf(&b, "\t\tupstream %s\n", upstream)
	if e.Redis != nil {
		fmt.Fprintf(&b, "\t\tredis %s\n", e.Redis.Addr())
	}
	// From the environment, as operators should: a literal secret in the
	// Caddyfile ends up in Caddy's own debug log ("adjusted config") and in
	// GET /config/. The resolved value must not appear anywhere either.
	b.WriteString("\t\tcredential_key {env.LORE_CREDENTIAL_KEY}\n")
	for _, l := range strings.Split(strings.TrimSpace(loreExtra), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintf(&b, "\t\t%s\n", l)
		}
	}
	b.WriteString("\t}\n")
	b.WriteString("}\n")
	return b.String()
}

// Secret registers one more value that must never leak.
func (e *Env) Secret(s string) { e.secrets = append(e.secrets, s) }

// CheckAdminConfig fails the test if the admin API's view of the running
// config (GET /config/) reveals a credential or the credential_key.
func (e *Env) CheckAdminConfig() {
	t := e.T
	t.Helper()
	if !e.Caddy.Running() {
		return
	}
	resp, err := http.Get("http://" + e.Caddy.AdminAddr + "/config/")
	if err != nil {
		t.Errorf("GET /config/: %v", err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, s := range e.secrets {
		if strings.Contains(string(b), s) {
			t.Errorf("GET /config/ on the admin endpoint reveals a secret (%s…)", s[:14])
		}
	}
}

// CheckNoSecrets fails the test if a credential (or the credential_key)
// appears in Caddy's log or anywhere in Redis (key names and values).
func (e *Env) CheckNoSecrets() {
	t := e.T
	t.Helper()
	log := e.Caddy.Log()
	for _, s := range e.secrets {
	forms:
		for _, form := range secretForms(s) {
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, form) {
					t.Errorf("caddy log %s contains a credential (%s…) in a line of %s", e.Caddy.LogPath, s[:14], logLineWhere(line))
					break forms
				}
			}
		}
	}
	if e.Redis == nil || !e.Redis.Running() {
		return
	}
	dump, err := e.Redis.Dump(context.Background())
	if err != nil {
		t.Errorf("redis dump: %v", err)
		return
	}
	for k, v := range dump {
		for _, s := range e.secrets {
			for _, form := range secretForms(s) {
				if strings.Contains(k, form) || strings.Contains(v, form) {
					t.Errorf("redis key %q contains a credential (%s…) in plaintext", k, s[:14])
				}
			}
		}
	}
}

// logLineWhere names a JSON log line by its level, logger and msg.
func logLineWhere(line string) string {
	var l struct {
		Level  string `json:"level"`
		Logger string `json:"logger"`
		Msg    string `json:"msg"`
	}
	if json.Unmarshal([]byte(line), &l) != nil {
		return fmt.Sprintf("non-JSON output %q", truncate([]byte(line), 80))
	}
	return fmt.Sprintf("level=%s logger=%s msg=%q", l.Level, l.Logger, l.Msg)
}

// secretForms: the plaintext, its distinctive random tail (so a truncated or
// prefixed copy is caught too) and hex of the plaintext.
func secretForms(s string) []string {
	forms := []string{s, hex.EncodeToString([]byte(s))}
	if len(s) > 24 {
		forms = append(forms, s[len(s)-24:])
	}
	return forms
}

// ---------------------------------------------------------------- raw HTTP

// Post sends a raw request to the gateway (path relative to e.URL).
func (e *Env) Post(path string, hdr http.Header, body []byte) (*http.Response, []byte) {
	e.T.Helper()
	req, err := http.NewRequest("POST", e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("content-type") == "" {
		req.Header.Set("content-type", "application/json")
	}
	if req.Header.Get("anthropic-version") == "" {
		req.Header.Set("anthropic-version", "2023-06-01")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		e.T.Fatalf("POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp, b
}

// Requests returns what the fake received on path (all paths when "").
func (e *Env) Requests(path string) []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range e.Fake.Requests() {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}
