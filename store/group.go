package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Groups: on a single node or sentinel, the turn reads (LoadTurn) that
// arrive at the same time share one pipeline, and the commits one
// MULTI/EXEC, so one round trip. A request that finds none of its kind in
// flight goes out at once (a quiet gateway waits for nothing); one that
// arrives while a group is in flight waits for it and goes out with the
// others that arrived meanwhile, in the next group. Under load the round
// trips, and the write and read syscalls that were most of a turn's Redis
// CPU on both sides (docs/benchmarks.md), are shared by the turns of a
// group.
//
// Each member still gets its own outcome: the commands of a pipeline or a
// MULTI are executed one by one, so a command that fails fails only its own
// member, whose other commands still run, exactly as when it went alone.
// Only what fails the whole group (a lost connection, an error while
// queueing, an outage) fails every member, as it would have failed each of
// them alone.
// maxGroup bounds the members of one group, so one transaction stays short
// on the server.
const maxGroup = 64

// grouper batches the pipelines of one kind (reads or commits) for one
// shared client.
type grouper struct {
	mu      sync.Mutex
	waiting []*groupMember
	busy    bool // a group is in flight
}

// groupMember is one read or commit waiting for its group.
type groupMember struct {
	ctx      context.Context
	queue    func(context.Context, redis.Pipeliner)
	counters []Increments // added up with the group's (counters.go)
	err      error
	done     chan struct{}
}

// sendGroup sends one group's commands as one pipeline or transaction
// (under the outage rules of do) and returns the queued commands.
type sendGroup func(context.Context, func(redis.Pipeliner)) ([]redis.Cmder, error)

// sender is the sendGroup of e's client: one pipeline, or one MULTI/EXEC
// when tx.
func (e *entry) sender(tx bool) sendGroup {
	return func(ctx context.Context, queue func(redis.Pipeliner)) ([]redis.Cmder, error) {
		var cmds []redis.Cmder
		err := e.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
			send := c.Pipelined
			if tx {
				send = c.TxPipelined
			}
			var err error
			cmds, err = send(ctx, func(p redis.Pipeliner) error {
				queue(p)
				return nil
			})
			return err
		})
		return cmds, err
	}
}

// run queues queue's commands, and counters added up with the group's, with
// the next group and returns the error of the member's own commands, or of
// the group. Its commands have their replies when it returns nil.
func (g *grouper) run(ctx context.Context, queue func(context.Context, redis.Pipeliner), counters []Increments, send sendGroup) error {
	c := &groupMember{ctx: ctx, queue: queue, counters: counters, done: make(chan struct{})}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if lead {
		g.lead(send)
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err() // the group may still store it
	}
}

// lead sends the waiting members as one group. The leader's own request is
// in it, so no caller serves others for long: a group that gathered
// meanwhile is led by a new goroutine.
func (g *grouper) lead(send sendGroup) {
	g.mu.Lock()
	n := min(len(g.waiting), maxGroup)
	waited := g.waiting[:n:n]
	g.waiting = append([]*groupMember(nil), g.waiting[n:]...)
	g.mu.Unlock()
	defer g.leadNext(send)

	// A member whose caller gave up while it waited (its deadline passed
	// behind a slow group) is not sent: its deadline must not become the
	// others'.
	var group []*groupMember
	for _, c := range waited {
		if err := c.ctx.Err(); err != nil {
			c.settle(err)
			continue
		}
		group = append(group, c)
	}
	if len(group) == 0 {
		return
	}
	// A panic while queueing (a bug) fails the group instead of leaving
	// its members, and every later one, waiting for ever.
	defer func() {
		if p := recover(); p != nil {
			for _, c := range group {
				c.settle(fmt.Errorf("store: a grouped Redis request panicked: %v", p))
			}
		}
	}()
	ctx, cancel := groupContext(group)
	defer cancel()
	bounds := make([]int, len(group)+1)
	queued := false
	var merged map[int][]*mergedKey
	cmds, err := send(ctx, func(p redis.Pipeliner) {
		queued = true
		for i, c := range group {
			bounds[i] = p.Len()
			c.queue(ctx, p)
		}
		bounds[len(group)] = p.Len()
		merged = queueMerged(ctx, p, group)
	})
	// go-redis sets a failed pipeline's or transaction's error on every
	// command of it, so each member's outcome is its own commands'. An
	// outage, and an error no command carries (nothing was sent), is every
	// member's, as do reports it.
	perCommand := queued && !errors.Is(err, ErrUnavailable) && (err == nil || firstErr(cmds) != nil)
	for i, c := range group {
		cerr := err
		if lo, hi := bounds[i], bounds[i+1]; perCommand && hi <= len(cmds) {
			cerr = firstErr(cmds[lo:hi])
			for _, k := range merged[i] {
				if cerr == nil && k.hi <= len(cmds) {
					cerr = firstErr(cmds[k.lo:k.hi])
				}
			}
		}
		c.settle(cerr)
	}
}

// leadNext hands the grouper to a new leader when members gathered while
// a group was in flight, and marks it idle otherwise.
func (g *grouper) leadNext(send sendGroup) {
	g.mu.Lock()
	more := len(g.waiting) > 0
	g.busy = more
	g.mu.Unlock()
	if more {
		go g.lead(send)
	}
}

// settle gives the member its outcome, once.
func (c *groupMember) settle(err error) {
	select {
	case <-c.done:
	default:
		c.err = err
		close(c.done)
	}
}

// groupContext is a group's context: its first member's values, none of
// their cancellations (a caller that gives up must not fail the others),
// and the latest of their deadlines; no deadline when one of them has none
// (do then applies the operation timeout).
func groupContext(group []*groupMember) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(group[0].ctx)
	var latest time.Time
	for _, c := range group {
		dl, ok := c.ctx.Deadline()
		if !ok {
			return ctx, func() {}
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(ctx, latest)
}

// firstErr is the error of the first failed command (a missing key's
// redis.Nil is not one).
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
