package lore

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

func TestUnmarshalDisableMetrics(t *testing.T) {
	var l Lore
	if err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser("lore {\ndisable_metrics\n}")); err != nil || !l.DisableMetrics {
		t.Fatalf("disable_metrics: %v %+v", err, l)
	}
	err := new(Lore).UnmarshalCaddyfile(caddyfile.NewTestDispenser("lore {\ndisable_metrics yes\n}"))
	if err == nil || !strings.Contains(err.Error(), "wrong argument count") {
		t.Fatalf("disable_metrics with an argument: %v", err)
	}
}

// TestIntegrationDisableMetrics: with disable_metrics no lore collector is
// registered on the config's registry and nothing is counted, so the
// process-wide counters read the same before and after the disabled config's
// turns.
func TestIntegrationDisableMetrics(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	c := sdkClient(t)

	tester.InitServer(e.caddyfile("knowledge off"), "caddyfile")
	start := readCounters(t)
	sdkTurn(t, c, "counted")
	// Tokens are counted when the turn is stored, after the answer reached
	// the client: wait for both so nothing of this turn lands later.
	before := pollCounters(t, func(c counters) bool {
		return c.turns == start.turns+1 && c.out > start.out && c.ok > start.ok
	})

	tester.InitServer(e.caddyfile("knowledge off\n\t\tdisable_metrics"), "caddyfile")
	for _, text := range []string{"not counted", "not counted either"} {
		sdkTurn(t, c, text)
	}
	if body := scrape(t); strings.Contains(body, "lore_") {
		i := strings.Index(body, "lore_")
		t.Fatalf("/metrics has lore series with disable_metrics: %.200s", body[i:])
	}

	tester.InitServer(e.caddyfile("knowledge off"), "caddyfile")
	after := readCounters(t)
	if after != before {
		t.Fatalf("counters moved while metrics were disabled:\nbefore %+v\nafter  %+v", before, after)
	}
	sdkTurn(t, c, "counted again")
	pollCounters(t, func(c counters) bool { return c.turns == before.turns+1 })
}

// pollCounters reads the counters until cond holds (a turn is counted just
// after its answer reached the client), failing after 3 s.
func pollCounters(t *testing.T, cond func(counters) bool) counters {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c := readCounters(t)
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters never reached the expected state: %+v", c)
		}
	}
}
