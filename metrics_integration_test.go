package lore

import (
	"context"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// scrape reads Caddy's admin /metrics.
func scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sample returns the value of one series in a text exposition (0 when absent).
func sample(body, name string, labels ...string) float64 {
	sort.Strings(labels)
	series := name
	if len(labels) > 0 {
		series += "{" + strings.Join(labels, ",") + "}"
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

type counters struct{ turns, ok, in, out, cacheRead, cacheWrite, utility float64 }

func readCounters(t *testing.T) counters {
	b := scrape(t)
	turns := 0.0
	for _, l := range []string{"0", "1", "2", "3", "4"} {
		turns += sample(b, "lore_requests_total", `route="messages"`, `class="turn"`, `layer="`+l+`"`)
	}
	return counters{
		turns:      turns,
		utility:    sample(b, "lore_requests_total", `route="messages"`, `class="utility"`, `layer="none"`),
		ok:         sample(b, "lore_upstream_responses_total", `status="200"`),
		in:         sample(b, "lore_tokens_total", `kind="input"`),
		out:        sample(b, "lore_tokens_total", `kind="output"`),
		cacheRead:  sample(b, "lore_tokens_total", `kind="cache_read"`),
		cacheWrite: sample(b, "lore_tokens_total", `kind="cache_write"`),
	}
}

// usageTurn runs a turn and returns the usage the fake upstream reported.
func usageTurn(t *testing.T, c anthropic.Client, texts ...string) anthropic.Usage {
	t.Helper()
	return sdkMessage(t, c, texts...).Usage
}

func TestIntegrationMetrics(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(""), "caddyfile")
	c := sdkClient(t)

	// Counters are process-wide (they survive reloads), so compare deltas.
	before := readCounters(t)
	costBefore := sample(scrape(t), "lore_cost_dollars_total")
	var want counters
	var wantCostMicro int64
	addUsage := func(u anthropic.Usage) {
		// Sonnet 4.5 list price in n$/token: 3000 in, 15000 out, 300 cache
		// read, 3750 cache write; rounded to µ$ per turn (handler.turnCost).
		wantCostMicro += (u.InputTokens*3000 + u.OutputTokens*15000 + u.CacheReadInputTokens*300 + u.CacheCreationInputTokens*3750 + 500) / 1000
		want.turns++
		want.ok++
		want.in += float64(u.InputTokens)
		want.out += float64(u.OutputTokens)
		want.cacheRead += float64(u.CacheReadInputTokens)
		want.cacheWrite += float64(u.CacheCreationInputTokens)
	}
	addUsage(usageTurn(t, c, "metrics one"))
	time.Sleep(50 * time.Millisecond) // let the commit land before the continuation
	addUsage(usageTurn(t, c, "metrics one", "ok (turn 1)", "metrics two"))
	// A title-like utility call: counted as utility, forwarded unchanged.
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-haiku-4-5", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("title?"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	want.ok++
	want.utility++
	check := func(stage string) {
		t.Helper()
		// A turn's tokens are counted just after its answer reached the
		// client, so poll briefly instead of reading once.
		var delta counters
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got := readCounters(t)
			delta = counters{got.turns - before.turns, got.ok - before.ok, got.in - before.in, got.out - before.out,
				got.cacheRead - before.cacheRead, got.cacheWrite - before.cacheWrite, got.utility - before.utility}
			if delta == want || time.Now().After(deadline) {
				break
			}
		}
		if delta != want {
			t.Fatalf("%s: metrics delta %+v, the fake upstream answered %+v", stage, delta, want)
		}
		if want.in+want.cacheRead+want.cacheWrite == 0 || want.out == 0 {
			t.Fatalf("%s: the fake upstream reported no usage: %+v", stage, want)
		}
	}
	check("first config")

	// A reload brings a new registry; the counters keep counting.
	tester.InitServer(e.caddyfile("max_body 16MiB"), "caddyfile")
	time.Sleep(50 * time.Millisecond)
	addUsage(usageTurn(t, c, "metrics one", "ok (turn 1)", "metrics two", "ok (turn 2)", "metrics three"))
	check("after reload")

	var costDelta float64
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		costDelta = sample(scrape(t), "lore_cost_dollars_total") - costBefore
		if math.Abs(costDelta-float64(wantCostMicro)/1e6) < 1e-9 || time.Now().After(deadline) {
			break
		}
	}
	if wantCostMicro == 0 || math.Abs(costDelta-float64(wantCostMicro)/1e6) >= 1e-9 {
		t.Fatalf("lore_cost_dollars_total delta %v, want %v", costDelta, float64(wantCostMicro)/1e6)
	}

	body := scrape(t)
	for _, name := range []string{"lore_cost_dollars_total", "lore_saved_dollars_total", "lore_counterfactual_dollars_total", "lore_tokens_removed_total", "lore_batch_queue_depth", "lore_batch_oldest_item_seconds"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	if strings.Contains(body, itKey) || strings.Contains(body, "metrics one") {
		t.Fatal("a credential or message text in /metrics")
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "lore_") && strings.Contains(line, "session") {
			t.Fatalf("session label in %q", line)
		}
	}
}
