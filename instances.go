package lore

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/handler"
	"github.com/caddy-lore/caddy-lore/store"
)

// The admin module (admin.go) lives outside the http app, so it cannot be
// handed the store: it reads this process-wide list of provisioned lore
// handlers instead and uses the newest one's store, i.e. the shared state in
// Redis. (With several lore handlers on different Redis servers in one
// config, the admin view shows the most recently provisioned one.)
var instances struct {
	mu   sync.Mutex
	list []*Lore
}

func registerInstance(l *Lore) {
	instances.mu.Lock()
	instances.list = append(instances.list, l)
	instances.mu.Unlock()
}

func unregisterInstance(l *Lore) {
	instances.mu.Lock()
	defer instances.mu.Unlock()
	for i, x := range instances.list {
		if x == l {
			instances.list = append(instances.list[:i], instances.list[i+1:]...)
			return
		}
	}
}

// current returns the newest provisioned instance's store and handler, or
// nils when no lore handler is running.
func current() (*store.Store, *handler.Handler) {
	instances.mu.Lock()
	defer instances.mu.Unlock()
	if n := len(instances.list); n > 0 {
		l := instances.list[n-1]
		return l.store, l.handler
	}
	return nil, nil
}

// queueGauges reads the batch queue gauges from Redis (on scrape).
func (l *Lore) queueGauges(ctx context.Context) (int64, time.Duration, error) {
	s, err := batching.ReadStats(ctx, l.store, time.Now())
	if err != nil {
		return 0, 0, err
	}
	return s.Queued, s.OldestAge, nil
}
