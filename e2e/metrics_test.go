package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// scrapeMetrics reads the built Caddy's admin /metrics.
func scrapeMetrics(t *testing.T, e *Env) string {
	t.Helper()
	resp, err := http.Get("http://" + e.Caddy.AdminAddr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

// metricSum adds the samples of name whose labels contain every filter.
func metricSum(body, name string, filters ...string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, f := range filters {
			ok = ok && strings.Contains(line, f)
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// docs/operations.md (Metrics): after a scripted run through the built gateway, the
// counters Caddy's /metrics exposes match what the fake upstream saw: turns,
// token sums, and worker calls by route (batched vs direct).
func TestMetricsMatchUpstream(t *testing.T) {
	e := NewEnv(t, EnvOptions{
		LoreExtra: "batching {\nflush_interval 300ms\npoll_interval 300ms\n}\nidle_timeout 0",
		Fake:      fakeBatchDelay(200 * time.Millisecond),
	})
	c := newConvo(t, e.URL, apiKeyHeader(e.Creds.Alice))
	const turns = 18
	var in, out, read, write float64
	for i := 1; i <= turns; i++ {
		r := c.mustSay(fmt.Sprintf("metrics turn %d", i))
		var m struct {
			Usage struct {
				In    float64 `json:"input_tokens"`
				Out   float64 `json:"output_tokens"`
				Read  float64 `json:"cache_read_input_tokens"`
				Write float64 `json:"cache_creation_input_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("turn %d answer is not JSON: %v", i, err)
		}
		in, out, read, write = in+m.Usage.In, out+m.Usage.Out, read+m.Usage.Read, write+m.Usage.Write
	}

	if in+read+write == 0 || out == 0 {
		t.Fatalf("the fake upstream reported no usage (in %v, out %v)", in+read+write, out)
	}
	// The distillation the 36 stored messages start goes through a batch;
	// wait for its results to be fetched and applied.
	var body string
	if !waitFor(15*time.Second, func() bool {
		body = scrapeMetrics(t, e)
		return metricSum(body, "lore_worker_calls_total", `route="batch"`) > 0 && len(batchResultFetches(e)) > 0
	}) {
		t.Fatalf("no batched worker call; metrics:\n%s", grepLines(body, "lore_"))
	}
	time.Sleep(200 * time.Millisecond)
	body = scrapeMetrics(t, e)

	if got := metricSum(body, "lore_requests_total", `class="turn"`, `route="messages"`); got != turns {
		t.Errorf("lore_requests_total turns = %v, want %d", got, turns)
	}
	for kind, want := range map[string]float64{"input": in, "output": out, "cache_read": read, "cache_write": write} {
		if got := metricSum(body, "lore_tokens_total", `kind="`+kind+`"`); got != want {
			t.Errorf("lore_tokens_total{kind=%q} = %v, the fake upstream answered %v", kind, got, want)
		}
	}
	batched, direct := 0, 0
	for _, r := range e.Fake.Requests() {
		switch {
		case r.Method == "POST" && r.Path == "/v1/messages/batches":
			var b struct {
				Requests []json.RawMessage `json:"requests"`
			}
			_ = json.Unmarshal(r.Body, &b)
			batched += len(b.Requests)
		case r.Path == "/v1/messages" && strings.Contains(string(r.Body), `"model":"claude-haiku-4-5"`):
			direct++
		}
	}
	if got := metricSum(body, "lore_worker_calls_total", `route="batch"`); got != float64(batched) || batched == 0 {
		t.Errorf("lore_worker_calls_total{route=batch} = %v, the fake received %d batched requests", got, batched)
	}
	if got := metricSum(body, "lore_worker_calls_total", `route="urgent"`) + metricSum(body, "lore_worker_calls_total", `route="sync"`); got != float64(direct) {
		t.Errorf("direct worker calls: metrics %v, the fake received %d", got, direct)
	}
	if got := metricSum(body, "lore_upstream_responses_total", `status="200"`); got < turns {
		t.Errorf("lore_upstream_responses_total{status=200} = %v, want ≥ %d", got, turns)
	}
	if metricSum(body, "lore_cost_dollars_total") <= 0 {
		t.Error("lore_cost_dollars_total did not count")
	}
	for _, s := range e.Creds.all() {
		if strings.Contains(body, s) {
			t.Fatal("a credential appears in /metrics")
		}
	}
}

func fakeBatchDelay(d time.Duration) (o fakeupstream.Options) {
	o.BatchDelay = d
	return o
}

func batchResultFetches(e *Env) []string {
	var out []string
	for _, r := range e.Fake.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/results") {
			out = append(out, r.Path)
		}
	}
	return out
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
