package lore

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/usage"
)

const itKeyB = "sk-ant-api03-integration-key-bbbbbbbbbbbb"

// usageLoop drives one session of client c for turns turns (16 is past the
// 30-undistilled threshold, so a distillation follows).
func usageLoop(t *testing.T, c anthropic.Client, first string, turns int) {
	t.Helper()
	texts := []string{first}
	for i := 1; i <= turns; i++ {
		reply := sdkTurn(t, c, texts...)
		texts = append(texts, reply, fmt.Sprintf("next step %d", i))
	}
}

// usageReportOf polls GET /lore/usage until ok accepts the report.
func usageReportOf(t *testing.T, query string, ok func(usage.Report) bool) usage.Report {
	t.Helper()
	var rep usage.Report
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, b := adminDo(t, "GET", "/lore/usage"+query)
		if code != 200 {
			t.Fatalf("/lore/usage%s: %d %s", query, code, b)
		}
		rep, body = usage.Report{}, b
		if err := json.Unmarshal([]byte(b), &rep); err != nil {
			t.Fatal(err)
		}
		if ok(rep) {
			return rep
		}
	}
	t.Fatalf("/lore/usage%s never as expected: %s", query, body)
	return rep
}

func rowOf(rep usage.Report, key string) *usage.Row {
	for i := range rep.Rows {
		if rep.Rows[i].Key == key {
			return &rep.Rows[i]
		}
	}
	return nil
}

var hex12 = regexp.MustCompile(`^[0-9a-f]{12}$`)

// checkWorkerPrice asserts a person's worker cost is its worker tokens at
// the haiku price, halved for batch rows (every call of one route here);
// every cache write of a worker call is under its system prompt's 1-hour
// marker, and the fake upstream reports it so.
func checkWorkerPrice(t *testing.T, who string, r *usage.Row, batch bool) {
	t.Helper()
	p := pricing.For("claude-haiku-4-5")
	u := pricing.Usage{InputTokens: r.Worker.Tokens.Input, OutputTokens: r.Worker.Tokens.Output, CacheReadTokens: r.Worker.Tokens.CacheRead, CacheWriteTokens: r.Worker.Tokens.CacheWrite, CacheWrite1hTokens: r.Worker.Tokens.CacheWrite}
	want := pricing.Dollars(pricing.Micro(p.WorkerCost(u, batch)))
	if batch && r.Worker.Tokens.CacheWrite == 0 {
		// The batch rows write the worker's prompt (the synchronous calls
		// later read it): without writes, their 1-hour price goes unchecked.
		t.Errorf("%s: no worker cache writes: %+v", who, r.Worker)
	}
	// Each call is rounded to the micro-dollar on its own.
	if math.Abs(r.Worker.Cost-want) > float64(r.Worker.Calls)*1e-6+1e-9 || r.Worker.Cost <= 0 {
		t.Errorf("%s: worker cost %v, want %v (batch %v) for %+v", who, r.Worker.Cost, want, batch, r.Worker)
	}
	if math.Abs(r.Cost-(r.TurnsCost+r.Worker.Cost)) > 1e-9 || math.Abs(r.Saved-(r.Counterfactual-r.Cost)) > 1e-9 {
		t.Errorf("%s: cost %v = turns %v + worker %v? saved %v = %v − cost?", who, r.Cost, r.TurnsCost, r.Worker.Cost, r.Saved, r.Counterfactual)
	}
}

// Per-person usage across two credentials (batched worker calls), then
// across two identities on one credential (synchronous worker calls), in
// Redis counters that survive the reload.
func TestIntegrationUsageByPerson(t *testing.T) {
	e, mr, tester := startBatched(t, itKey, itKeyB)

	clientA := sdkClient(t)
	clientB := gatewayClient(itKeyB)
	usageLoop(t, clientA, "person A's long session", 16)
	usageLoop(t, clientB, "person B's short session", 1)

	rep := usageReportOf(t, "?by=person", func(r usage.Report) bool {
		return len(r.Rows) == 2 && r.Total.Turns == 17 && r.Rows[0].Worker.BatchCalls > 0
	})
	a, b := rep.Rows[0], rep.Rows[1] // highest cost first: A has 16 turns and the distillation
	if !hex12.MatchString(a.Key) || !hex12.MatchString(b.Key) || a.Key == b.Key {
		t.Fatalf("persons without identity must be 12-hex fingerprints: %q %q", a.Key, b.Key)
	}
	if a.Turns != 16 || b.Turns != 1 || a.Tokens.Input+a.Tokens.CacheRead+a.Tokens.CacheWrite == 0 || a.Tokens.Output == 0 ||
		a.Counterfactual <= 0 || b.Worker.Calls != 0 || b.Cost <= 0 {
		t.Fatalf("rows %+v / %+v", a, b)
	}
	if a.Worker.Calls != a.Worker.BatchCalls {
		t.Fatalf("batching on: every worker call of A ran as a batch row: %+v", a.Worker)
	}
	checkWorkerPrice(t, "A", &a, true)
	code, raw := adminDo(t, "GET", "/lore/usage?by=person")
	if code != 200 || strings.Contains(raw, itKey) || strings.Contains(raw, itKeyB) || strings.Contains(raw, "sk-ant") {
		t.Fatalf("usage output holds a credential: %s", raw)
	}

	today := time.Now().UTC().Format("2006-01-02")
	byModel := usageReportOf(t, "?by=model&since="+today+"&until="+today, func(r usage.Report) bool { return r.Total.Turns == 17 })
	if m := rowOf(byModel, "claude-sonnet-4-5"); m == nil || m.Turns != 17 || rowOf(byModel, "claude-haiku-4-5") == nil {
		t.Fatalf("by model: %+v", byModel.Rows)
	}
	byDay := usageReportOf(t, "?by=day", func(r usage.Report) bool { return r.Total.Turns == 17 })
	if len(byDay.Rows) != 30 || byDay.Until != today || byDay.Rows[29].Key != today || byDay.Rows[29].Turns != 17 {
		t.Fatalf("by day: %d rows, until %s, last %+v", len(byDay.Rows), byDay.Until, byDay.Rows[len(byDay.Rows)-1])
	}
	for _, q := range []string{"?by=session", "?since=yesterday", "?since=2026-01-02&until=2026-01-01", "?since=2020-01-01&until=2026-01-01"} {
		if code, body := adminDo(t, "GET", "/lore/usage"+q); code != 400 {
			t.Errorf("/lore/usage%s: %d %s", q, code, body)
		}
	}

	// Identity: two people on one credential, worker calls synchronous.
	tester.InitServer(e.caddyfile(fmt.Sprintf(`redis %s
		credential_key %s
		identity {http.request.header.X-User}
		batching off`, mr.Addr(), itSecret)), "caddyfile")
	alice := gatewayClient(itKey, option.WithHeader("X-User", "alice@example.com"))
	bob := gatewayClient(itKey, option.WithHeader("X-User", "bob@example.com"))
	usageLoop(t, alice, "alice's long session", 16)
	usageLoop(t, bob, "bob's session", 2)
	// A turn is counted when it is stored, just after its answer: wait for
	// every turn, not just for the rows to exist.
	rep = usageReportOf(t, "", func(r usage.Report) bool {
		al, bo := rowOf(r, "alice@example.com"), rowOf(r, "bob@example.com")
		return al != nil && al.Worker.Calls > 0 && al.Turns == 16 && bo != nil && bo.Turns == 2
	})
	al, bo := rowOf(rep, "alice@example.com"), rowOf(rep, "bob@example.com")
	if al.Turns != 16 || bo.Turns != 2 || al.Worker.BatchCalls != 0 || bo.Worker.Calls != 0 {
		t.Fatalf("identity rows %+v / %+v", al, bo)
	}
	checkWorkerPrice(t, "alice", al, false)
	if fa := rowOf(rep, a.Key); fa == nil || fa.Turns != 16 {
		t.Fatalf("A's counters did not survive the reload: %+v", rep.Rows)
	}
	if len(rep.Rows) != 4 || rep.Total.Turns != 35 {
		t.Fatalf("persons %+v", rep.Rows)
	}

	// No person is a metrics label.
	if code, m := adminDo(t, "GET", "/metrics"); code != 200 || !strings.Contains(m, "lore_requests_total") ||
		strings.Contains(m, "alice@example.com") || strings.Contains(m, a.Key) || strings.Contains(m, b.Key) {
		t.Fatalf("metrics (%d) name a person or lack lore's counters", code)
	}

	// The status page shows the same table and the per-day chart.
	code, page := adminDo(t, "GET", "/lore/")
	if code != 200 || !strings.Contains(page, `<section id="usage">`) || strings.Count(page, `<tr class="person">`) != 4 ||
		!strings.Contains(page, "alice@example.com") || strings.Count(page, `<rect class="day"`) != 30 {
		t.Fatalf("status page usage section: %d\n%s", code, page)
	}
}
