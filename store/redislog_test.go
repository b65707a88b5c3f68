package store

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestClientLogOncePerOutage: go-redis's own lines (dial failures) go through
// the module's zap logger at warn level, once per outage, not to stderr.
func TestClientLogOncePerOutage(t *testing.T) {
	b := backends(t)[0]
	ctx := context.Background()
	log, logs := observed()
	s, err := Open(b.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	outage := func() {
		b.mini.Close()
		for i := 0; i < 3; i++ {
			_, _ = s.LoadSession(ctx, "S1")
			time.Sleep(probeInterval + 50*time.Millisecond)
			_ = s.Available() // a probe dials again
		}
		time.Sleep(200 * time.Millisecond)
		if err := b.mini.Restart(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * probeInterval)
		for !s.Available() {
			if time.Now().After(deadline) {
				t.Fatal("store did not come back")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	outage()
	first := logs.FilterMessage("redis client").All()
	outage()
	all := logs.FilterMessage("redis client").All()
	if len(first) != 1 || len(all) != 2 {
		t.Fatalf("go-redis lines logged %d times in the first outage and %d in both, want 1 and 2", len(first), len(all))
	}
	for _, e := range all {
		if e.Level != zap.WarnLevel || e.ContextMap()["detail"] == "" {
			t.Fatalf("entry %+v", e)
		}
	}
}
