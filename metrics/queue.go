package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// queueReadTimeout bounds the Redis read of one scrape.
const queueReadTimeout = 2 * time.Second

// queueCollector reports the batch queue gauges, read from Redis on scrape
// (so every instance on one Redis reports the same shared queue).
type queueCollector struct {
	depth, oldest *prometheus.Desc

	mu    sync.Mutex
	owner any
	src   QueueSource
}

func newQueueCollector() *queueCollector {
	return &queueCollector{
		depth: prometheus.NewDesc("lore_batch_queue_depth",
			"Background LLM calls waiting in the shared batch queue for a flush.", nil, nil),
		oldest: prometheus.NewDesc("lore_batch_oldest_item_seconds",
			"Age of the oldest item waiting in the batch queue (0 when empty).", nil, nil),
	}
}

func (q *queueCollector) set(owner any, src QueueSource) {
	q.mu.Lock()
	q.owner, q.src = owner, src
	q.mu.Unlock()
}

func (q *queueCollector) clear(owner any) {
	q.mu.Lock()
	if q.owner == owner {
		q.owner, q.src = nil, nil
	}
	q.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.depth
	ch <- q.oldest
}

// Collect implements prometheus.Collector; with no source or an unreadable
// queue the gauges are left out of the scrape.
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	src := q.src
	q.mu.Unlock()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueReadTimeout)
	defer cancel()
	depth, oldest, err := src(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(q.depth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(q.oldest, prometheus.GaugeValue, oldest.Seconds())
}
