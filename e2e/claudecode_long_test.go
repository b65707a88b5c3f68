package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// The real Claude Code CLI past the window: a long tool loop (the fake's
// "[[loop:N]]" mode asks it to `cat` one 8 KB file per round) with Claude
// Code's own system prompt, tools, thinking and context_management, run once
// straight at the fake upstream and once through the gateway. The fake
// enforces a 200K-token limit, the thinking rules and the prompt cache; its
// ledger prices every call it answered.
//
// LORE_E2E_LONG_ROUNDS overrides the number of rounds (default 150).

const longLoopModel = "claude-sonnet-4-5"

func TestClaudeCodeLongToolLoop(t *testing.T) {
	bin := claudeBinary(t)
	rounds := 150
	if v, err := strconv.Atoi(os.Getenv("LORE_E2E_LONG_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}

	direct := func() loopRun {
		key := newCreds().Alice
		fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{key}})
		defer fake.Close()
		return runLoop(t, bin, fake, fake.URL(), key, rounds)
	}()
	// Batches flush and are polled every 300 ms, so the gateway's worker
	// calls are answered, and counted, within the run.
	e := NewEnv(t, EnvOptions{LoreExtra: "batching {\nflush_interval 300ms\npoll_interval 300ms\n}"})
	viaLore := runLoop(t, bin, e.Fake, e.URL, e.Creds.Alice, rounds)
	viaLore.worker = waitWorkerSettled(t, e)
	metrics := scrapeMetrics(t, e)

	t.Logf("Claude Code, %d tool rounds of 8 KB, %s, 200K limit:\n%s", rounds, longLoopModel, loopTable(direct, viaLore))
	t.Logf("per-turn input-side cost (USD, cumulative every 10 client requests):\n%s", costCurve(direct, viaLore))

	for name, r := range map[string]loopRun{"direct": direct, "lore": viaLore} {
		if want := fmt.Sprintf("LOOP DONE: read %d files", rounds); !strings.Contains(r.result, want) {
			t.Errorf("%s: Claude Code ended with %q, want the model's final answer %q", name, truncate([]byte(r.result), 300), want)
		}
	}
	if past := metricSum(metrics, "lore_requests_total", `class="turn"`, `layer="1"`); past == 0 {
		t.Errorf("no turn went past the window (no layer-1 turn in /metrics):\n%s", grepLines(metrics, "lore_requests_total"))
	}
	if n := metricSum(metrics, "lore_overflow_retries_total"); n != 0 {
		t.Errorf("lore_overflow_retries_total = %v, want 0", n)
	}
	if n := viaLore.errors(); n != 0 {
		t.Errorf("through lore: %d upstream errors, want 0: %s", n, viaLore.firstError())
	}
	if c := viaLore.clientCompactions; c != 0 {
		t.Errorf("through lore: Claude Code sent %d compaction requests, want 0", c)
	}
	if got, want := viaLore.turnCalls(), viaLore.clientRequests; got != want {
		t.Errorf("through lore: %d upstream turn requests for %d client requests, want one each", got, want)
	}
	if lc, dc := viaLore.totalCost(), direct.totalCost(); lc > dc {
		t.Errorf("through lore the run cost $%.2f (turns $%.2f + worker $%.2f), more than direct $%.2f",
			lc, viaLore.turnCost(), viaLore.workerCost(), dc)
	}
}

// loopRun is one run's outcome: what Claude Code answered, what it sent, and
// the fake's ledger.
type loopRun struct {
	result            string
	clientRequests    int // POST /v1/messages Claude Code sent
	clientCompactions int // of which summary (auto-compaction) requests
	bills             []fakeupstream.Bill
	worker            []fakeupstream.Bill // lore only: worker calls answered after Claude Code ended
}

// runLoop runs Claude Code through base (the fake itself, or the gateway in
// front of it) in a work directory holding the loop's files.
func runLoop(t *testing.T, bin string, fake *fakeupstream.Server, base, key string, rounds int) loopRun {
	t.Helper()
	fake.Reset()
	home := t.TempDir()
	work := filepath.Join(home, "work")
	writeLoopFiles(t, work, rounds)
	counter := newCountingProxy(t, base)
	prompt := fmt.Sprintf("Read the files f_001.txt to f_%03d.txt in order with cat, one per step. [[loop:%d]]", rounds, rounds)
	res := runClaudeFor(t, 20*time.Minute, bin, home, counter.url, prompt, []string{"ANTHROPIC_API_KEY=" + key},
		"--model", longLoopModel, "--allowedTools", "Bash", "--max-turns", strconv.Itoa(rounds+50))
	r := loopRun{bills: fake.Bills()}
	r.result, _ = res["result"].(string)
	r.clientRequests, r.clientCompactions = counter.counts()
	return r
}

// writeLoopFiles writes f_001.txt … f_N.txt of 8 KB each: the "LOOP i of N"
// line the fake's loop mode reads, then lines of words that differ from file
// to file (so no deduplication can fold them).
func writeLoopFiles(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= n; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "LOOP %d of %d\n", i, n)
		for line := 0; b.Len() < 8192-80; line++ {
			fmt.Fprintf(&b, "%03d.%03d", i, line)
			for b.Len()%80 < 72 {
				b.WriteString(" " + words[rng.IntN(len(words))])
			}
			b.WriteString("\n")
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f_%03d.txt", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// countingProxy sits between Claude Code and base and counts its Messages
// requests, and among them its summary (auto-compaction) requests.
type countingProxy struct {
	url             string
	mu              sync.Mutex
	requests, summs int
}

func newCountingProxy(t *testing.T, base string) *countingProxy {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	c := &countingProxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/messages" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			c.mu.Lock()
			c.requests++
			if isSummaryBody(body) {
				c.summs++
			}
			c.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c.url = "http://" + ln.Addr().String()
	return c
}

func (c *countingProxy) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.summs
}

// isSummaryBody recognises Claude Code's compaction request: its last user
// message asks for a detailed summary of the conversation.
func isSummaryBody(body []byte) bool {
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Messages) == 0 {
		return false
	}
	last := req.Messages[len(req.Messages)-1]
	s := strings.ToLower(string(last.Content))
	return last.Role == "user" && strings.Contains(s, "summary of the conversation")
}

// waitWorkerSettled waits until the gateway's background work for the run
// has been answered (the batch queue is empty and no new bill came for 3 s,
// at most 60 s), and returns the bills that came after Claude Code ended.
func waitWorkerSettled(t *testing.T, e *Env) []fakeupstream.Bill {
	before := len(e.Fake.Bills())
	deadline := time.Now().Add(60 * time.Second)
	last, stable := before, time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if n := len(e.Fake.Bills()); n != last {
			last, stable = n, time.Now()
		}
		if time.Since(stable) >= 3*time.Second && metricSum(scrapeMetrics(t, e), "lore_batch_queue_depth") == 0 {
			break
		}
	}
	return e.Fake.Bills()[before:]
}

// isTurn tells Claude Code's own calls (its ~20 tools) from the gateway's
// worker calls (no tools).
func isTurn(b fakeupstream.Bill) bool { return b.Tools >= 5 }

func (r loopRun) all() []fakeupstream.Bill {
	return append(append([]fakeupstream.Bill(nil), r.bills...), r.worker...)
}

func (r loopRun) errors() int {
	n := 0
	for _, b := range r.all() {
		if b.Status != http.StatusOK {
			n++
		}
	}
	return n
}

func (r loopRun) tooLong() int {
	n := 0
	for _, b := range r.all() {
		if strings.Contains(b.Error, "prompt is too long") {
			n++
		}
	}
	return n
}

func (r loopRun) firstError() string {
	for _, b := range r.all() {
		if b.Status != http.StatusOK {
			return fmt.Sprintf("%d %s", b.Status, b.Error)
		}
	}
	return ""
}

func (r loopRun) workerCalls(batched bool) int {
	n := 0
	for _, b := range r.all() {
		if !isTurn(b) && b.Batch == batched {
			n++
		}
	}
	return n
}

// maxTurnInput is the largest input (uncached + cache read + cache write)
// of an answered turn call; afterCut: only after the first turn call that
// sent less than the one before (the first cut, or the client's compaction).
func (r loopRun) maxTurnInput(afterCut bool) int {
	n, prev, cut := 0, 0, false
	for _, b := range r.bills {
		if !isTurn(b) || b.Status != http.StatusOK {
			continue
		}
		in := b.Input + b.CacheRead + b.Creation5m + b.Creation1h
		cut = cut || in < prev
		prev = in
		if !afterCut || cut {
			n = max(n, in)
		}
	}
	return n
}

func (r loopRun) turnCalls() int {
	n := 0
	for _, b := range r.bills {
		if isTurn(b) {
			n++
		}
	}
	return n
}

// billCost prices one call at list prices: input, output, cache reads at
// 0.1×, 5-minute writes at 1.25×, 1-hour writes at 2×; batch rows at half.
// inputOnly leaves the output out.
func billCost(b fakeupstream.Bill, inputOnly bool) float64 {
	p := pricing.For(b.Model)
	nano := int64(b.Input)*p.Input + int64(b.CacheRead)*p.CacheRead() +
		int64(b.Creation5m)*p.CacheWrite5m() + int64(b.Creation1h)*p.CacheWrite1h()
	if !inputOnly {
		nano += int64(b.Output) * p.Output
	}
	if b.Batch {
		nano /= 2
	}
	return float64(nano) / 1e9
}

func (r loopRun) sum(pick func(fakeupstream.Bill) bool, inputOnly bool) float64 {
	c := 0.0
	for _, b := range r.all() {
		if pick(b) {
			c += billCost(b, inputOnly)
		}
	}
	return c
}

func (r loopRun) turnCost() float64 { return r.sum(isTurn, false) }
func (r loopRun) workerCost() float64 {
	return r.sum(func(b fakeupstream.Bill) bool { return !isTurn(b) }, false)
}
func (r loopRun) totalCost() float64 {
	return r.sum(func(fakeupstream.Bill) bool { return true }, false)
}
func (r loopRun) inputCost() float64 {
	return r.sum(func(fakeupstream.Bill) bool { return true }, true)
}

func loopTable(d, l loopRun) string {
	var b strings.Builder
	row := func(name string, dv, lv any) { fmt.Fprintf(&b, "| %-44s | %10v | %12v |\n", name, dv, lv) }
	row("", "direct", "through lore")
	row("client requests (POST /v1/messages)", d.clientRequests, l.clientRequests)
	row("upstream Messages calls (turns + worker)", len(d.all()), len(l.all()))
	row("upstream turn calls", d.turnCalls(), l.turnCalls())
	row("gateway worker calls: batched / direct", fmt.Sprintf("%d / %d", d.workerCalls(true), d.workerCalls(false)),
		fmt.Sprintf("%d / %d", l.workerCalls(true), l.workerCalls(false)))
	row("\"prompt is too long\" answers", d.tooLong(), l.tooLong())
	row("compaction requests sent by Claude Code", d.clientCompactions, l.clientCompactions)
	row("largest upstream turn request (tokens)", d.maxTurnInput(false), l.maxTurnInput(false))
	row("same, after the first cut or compaction", d.maxTurnInput(true), l.maxTurnInput(true))
	row("input-side cost (USD)", fmt.Sprintf("%.2f", d.inputCost()), fmt.Sprintf("%.2f", l.inputCost()))
	row("total cost, turns (USD)", fmt.Sprintf("%.2f", d.turnCost()), fmt.Sprintf("%.2f", l.turnCost()))
	row("total cost, gateway worker calls (USD)", fmt.Sprintf("%.2f", d.workerCost()), fmt.Sprintf("%.2f", l.workerCost()))
	row("total cost (USD)", fmt.Sprintf("%.2f", d.totalCost()), fmt.Sprintf("%.2f", l.totalCost()))
	return b.String()
}

// costCurve is the cumulative input-side cost of the turn calls every 10
// turn calls, for both runs side by side.
func costCurve(d, l loopRun) string {
	cum := func(r loopRun) []float64 {
		var out []float64
		c := 0.0
		for _, b := range r.bills {
			if isTurn(b) {
				c += billCost(b, true)
				out = append(out, c)
			}
		}
		return out
	}
	dc, lc := cum(d), cum(l)
	var b strings.Builder
	fmt.Fprintf(&b, "| turn | direct | lore |\n")
	for i := 9; i < max(len(dc), len(lc)); i += 10 {
		at := func(xs []float64) string {
			if i < len(xs) {
				return fmt.Sprintf("%.2f", xs[i])
			}
			return "-"
		}
		fmt.Fprintf(&b, "| %d | %s | %s |\n", i+1, at(dc), at(lc))
	}
	return b.String()
}
