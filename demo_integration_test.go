package lore

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-lore/caddy-lore/internal/demo"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// TestIntegrationDemo runs the newcomer's demo (README "Try it in two
// minutes"): examples/demo.Caddyfile, unchanged but for its {$VAR} ports,
// in front of the fake upstream, and the scripted session of cmd/demo. The
// session must cross the window and the status page must show layers,
// distillations, batches and savings.
func TestIntegrationDemo(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{demo.APIKey}})
	t.Cleanup(fake.Close)
	t.Setenv("LORE_DEMO_ADMIN", "localhost:2999")
	t.Setenv("LORE_DEMO_SITE", "localhost:9080")
	t.Setenv("LORE_DEMO_UPSTREAM", fake.URL())
	conf, err := os.ReadFile("examples/demo.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(string(conf), "caddyfile")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	sum, err := demo.Run(ctx, demo.Options{Gateway: "http://localhost:9080", Admin: "http://localhost:2999", Log: &log, Settle: time.Minute})
	t.Log("\n" + log.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.MaxLayer < 1 || sum.Layers[0] == 0 {
		t.Fatalf("the session did not cross the window: layers %v", sum.Layers)
	}
	if sum.UpstreamInput*3 > sum.ClientTokens {
		t.Fatalf("last turn: the upstream read %d tokens of ~%d sent by the client; want at most a third", sum.UpstreamInput, sum.ClientTokens)
	}
	if sum.Distillations == 0 || sum.Distilled == 0 || sum.BatchesResolved == 0 {
		t.Fatalf("no distillations or batches: %+v", sum)
	}
	if sum.WorkerCalls["distill/batch"] == 0 {
		t.Fatalf("no batched distillation in /metrics: %v", sum.WorkerCalls)
	}
	if sum.Saved <= 0 || sum.Cost <= 0 {
		t.Fatalf("cost %v, saved %v: want a positive saving", sum.Cost, sum.Saved)
	}
	if sum.Answer != "LOOP DONE: read 60 files" {
		t.Fatalf("last answer %q: the loop did not run to its end", sum.Answer)
	}

	resp, err := http.Get("http://localhost:2999/lore/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for name, re := range map[string]string{
		"a layer-1 bar":        `<title>L1: 1</title>`,
		"the distilled column": `<td class="distilled">[1-9][0-9]*</td>`,
		"the savings line":     `<polyline class="savings"`,
		"resolved batch rows":  `<th>resolved</th>`,
		"a positive saving":    `saved \$[0-9]+\.[0-9]*[1-9]`,
	} {
		if !regexp.MustCompile(re).Match(page) {
			t.Errorf("status page lacks %s (%s)", name, re)
		}
	}
}
