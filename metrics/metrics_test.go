package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-lore/caddy-lore/metrics/label"
)

func TestRegisterTwiceAndAcrossRegistries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m1, err := Register(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Register(reg) // a second lore handler in the same config
	if err != nil {
		t.Fatalf("second Register on one registry: %v", err)
	}
	before := testutil.ToFloat64(m1.requests.WithLabelValues(label.RouteMessages, label.ClassTurn, "2"))
	m1.Request(label.RouteMessages, label.ClassTurn, 2)
	m2.Request(label.RouteMessages, label.ClassTurn, 2)

	// A reload: a new registry, the same counters.
	m3, err := Register(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m3.Request(label.RouteMessages, label.ClassTurn, 2)
	if got := testutil.ToFloat64(m3.requests.WithLabelValues(label.RouteMessages, label.ClassTurn, "2")) - before; got != 3 {
		t.Fatalf("requests counted %v, want 3", got)
	}
	m3.Request(label.RoutePassthrough, label.ClassPassthrough, -1)
	if testutil.ToFloat64(m3.requests.WithLabelValues(label.RoutePassthrough, label.ClassPassthrough, "none")) < 1 {
		t.Fatal("layer none not counted")
	}
}

func TestCostCounters(t *testing.T) {
	m, err := Register(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c0, w0, s0 := testutil.ToFloat64(m.cost), testutil.ToFloat64(m.without), testutil.ToFloat64(m.saved)
	m.Cost(1_500_000, 4_000_000) // saved $2.5
	m.Cost(2_000_000, 1_000_000) // cost more than without: saved unchanged
	m.Cost(0, 0)
	got := [3]float64{testutil.ToFloat64(m.cost) - c0, testutil.ToFloat64(m.without) - w0, testutil.ToFloat64(m.saved) - s0}
	if got != [3]float64{3.5, 5, 2.5} {
		t.Fatalf("cost, counterfactual, saved deltas %v", got)
	}
}

func TestQueueGaugesAndNil(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := Register(reg)
	if err != nil {
		t.Fatal(err)
	}
	owner, newer := new(int), new(int)
	m.SetQueueSource(owner, func(context.Context) (int64, time.Duration, error) { return 7, 3 * time.Second, nil })
	if n, err := testutil.GatherAndCount(reg, "lore_batch_queue_depth", "lore_batch_oldest_item_seconds"); err != nil || n != 2 {
		t.Fatalf("gauges: %d %v", n, err)
	}
	m.SetQueueSource(newer, func(context.Context) (int64, time.Duration, error) { return 0, 0, errors.New("down") })
	m.ClearQueueSource(owner) // an older instance's cleanup leaves the newer source
	if m.queue.src == nil {
		t.Fatal("older owner cleared the newer source")
	}
	if n, _ := testutil.GatherAndCount(reg, "lore_batch_queue_depth"); n != 0 {
		t.Fatal("gauge reported from an unreadable queue")
	}
	m.ClearQueueSource(newer)

	var none *Metrics // nil records nothing and does not panic
	none.Request(label.RouteChat, label.ClassTurn, 0)
	none.UpstreamStatus(200)
	none.Tokens(1, 2, 3, 4)
	none.TokensRemoved(5)
	none.Cost(1, 2)
	none.WorkerCall("distill", label.CallBatch)
	none.SetQueueSource(owner, nil)
	none.ClearQueueSource(owner)
}

// BenchmarkTurnEvents is the metrics work of one conversation turn on the
// hot path (docs/benchmarks.md, Hot-path metrics).
func BenchmarkTurnEvents(b *testing.B) {
	m, err := Register(prometheus.NewPedanticRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(label.RouteMessages, label.ClassTurn, 1)
			m.TokensRemoved(1200)
			m.UpstreamStatus(200)
			m.Tokens(3, 250, 90000, 1500)
			m.Cost(36384, 40000)
		}
	})
}
