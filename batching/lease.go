package batching

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// hold keeps this instance's lease on record id alive while the caller works
// on it: renewed every third of the lease TTL. The returned context ends when
// the lease is lost (another owner holds it, or it could not be renewed for a
// whole TTL), so the work stops before someone else starts it; the returned
// function (idempotent) stops renewing, ends the context and leaves the
// lease as it is.
func (q *Queue) hold(parent context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer q.recover("lease " + id)
		t := time.NewTicker(q.tun.leaseTTL / 3)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ok, err := q.bq.Lease(ctx, id, q.owner, q.now(), q.tun.leaseTTL)
			switch {
			case err == nil && ok:
				renewed = time.Now()
			case err == nil:
				q.log.Warn("batching: lease lost to another instance; stopping", zap.String("record", id))
				cancel()
				return
			case time.Since(renewed) >= q.tun.leaseTTL && ctx.Err() == nil:
				q.log.Warn("batching: lease could not be renewed; stopping", zap.String("record", id), zap.Error(err))
				cancel()
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			<-finished
			cancel()
		})
	}
}

// leaveFor stops renewing (release, from hold: the caller must not use the
// held context afterwards) and sets this instance's lease on record id to
// expire after d (0: now), so that the next pass (of any instance) takes the
// record after that. Nothing is written after a crash: a dead process
// writes nothing.
func (q *Queue) leaveFor(id string, d time.Duration, release func()) {
	release()
	if q.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(q.ctx, q.tun.httpTimeout)
	defer cancel()
	if _, err := q.bq.SetLeaseExpiry(ctx, id, q.owner, q.now().Add(d)); err != nil {
		q.log.Warn("batching: could not set a lease's expiry", zap.String("record", id), zap.Error(err))
	}
}
