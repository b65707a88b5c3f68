package lore

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// `knowledge` on (the default) curates after 3 turns; `knowledge off` never
// calls the curator. Batching is off so the call is visible at once.
func TestIntegrationKnowledgeOnOff(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want int
	}{{"batching off", 1}, {"batching off\n\t\tknowledge off", 0}} {
		e := newITEnv(t)
		tester := caddytest.NewTester(t)
		tester.InitServer(e.caddyfile(tc.conf), "caddyfile")
		c := sdkClient(t)
		sdkTurn(t, c, "first")
		sdkTurn(t, c, "first", "ok (turn 1)", "second")
		sdkTurn(t, c, "first", "ok (turn 1)", "second", "ok (turn 2)", "third")
		curations := func() int {
			n := 0
			for _, r := range e.fake.Requests() {
				if strings.Contains(string(r.Body), "knowledge curator of an AI coding assistant") {
					n++
				}
			}
			return n
		}
		deadline := time.Now().Add(3 * time.Second)
		for curations() < tc.want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // nothing more may come
		if got := curations(); got != tc.want {
			t.Fatalf("%q: %d curation calls after 3 turns, want %d", tc.conf, got, tc.want)
		}
	}
}
