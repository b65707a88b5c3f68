package lore

import (
	"testing"
	"time"
)

func TestUsageRange(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	since, until, err := usageRange("", "", now)
	if err != nil || since.Format("2006-01-02") != "2026-11-08" || until.Format("2006-01-02") != "2026-12-07" {
		t.Fatalf("defaults: %v %v %v", since, until, err)
	}
	since, until, err = usageRange("2026-12-01", "2026-12-01", now)
	if err != nil || !since.Equal(until) {
		t.Fatalf("one day: %v %v %v", since, until, err)
	}
	for _, q := range [][2]string{{"12/01/2026", ""}, {"", "tomorrow"}, {"2026-12-02", "2026-12-01"}, {"2025-01-01", "2026-12-01"}} {
		if _, _, err := usageRange(q[0], q[1], now); err == nil {
			t.Errorf("usageRange(%q, %q) accepted", q[0], q[1])
		}
	}
}
