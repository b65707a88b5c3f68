package store

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Group commit: on a single node or sentinel, the commits of turns that end
// at the same time share one MULTI/EXEC and so one round trip. A commit that
// finds none in flight goes out at once (a quiet gateway waits for nothing);
// one that arrives while a group is in flight waits for it and goes out with
// the others that arrived meanwhile, in the next group. Under load the
// round trips, and the write syscalls that were most of a commit's CPU
// (docs/benchmarks.md), are shared by the turns of a group.
//
// Each commit still gets its own outcome: the commands of a MULTI are
// executed one by one, so a command that fails fails only its own commit,
// whose other writes are still applied, exactly as when it went alone.
// Only what fails the whole transaction (a lost connection, an error while
// queueing) fails every commit of the group, as it would have failed each
// of them alone.

// maxGroup bounds the commits of one group, so one transaction stays short
// on the server.
const maxGroup = 64

// groupCommitter batches commits for one shared client.
type groupCommitter struct {
	mu      sync.Mutex
	waiting []*groupedCommit
	busy    bool // a group is in flight
}

// groupedCommit is one commit waiting for its group.
type groupedCommit struct {
	ctx   context.Context
	queue func(context.Context, redis.Pipeliner)
	err   error
	done  chan struct{}
}

// sendGroup sends one group's writes as one transaction (under the outage
// rules of do) and returns the queued commands.
type sendGroup func(context.Context, func(redis.Pipeliner)) ([]redis.Cmder, error)

// commit queues write with the next group and returns the error of the
// commit's own commands, or of the group. write's commands have their
// replies when it returns nil.
func (g *groupCommitter) commit(ctx context.Context, write func(context.Context, redis.Pipeliner), send sendGroup) error {
	c := &groupedCommit{ctx: ctx, queue: write, done: make(chan struct{})}
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

// lead sends the waiting commits as one group. The leader's own commit is
// in it, so no caller serves others for long: a group that gathered
// meanwhile is led by a new goroutine.
func (g *groupCommitter) lead(send sendGroup) {
	g.mu.Lock()
	n := min(len(g.waiting), maxGroup)
	group := g.waiting[:n:n]
	g.waiting = append([]*groupedCommit(nil), g.waiting[n:]...)
	g.mu.Unlock()

	// The group has its first commit's deadline, not its cancellation: a
	// caller that gives up must not fail the others.
	ctx := context.WithoutCancel(group[0].ctx)
	if dl, ok := group[0].ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	bounds := make([]int, len(group)+1)
	queued := false
	cmds, err := send(ctx, func(p redis.Pipeliner) {
		queued = true
		for i, c := range group {
			bounds[i] = p.Len()
			c.queue(ctx, p)
		}
		bounds[len(group)] = p.Len()
	})
	// go-redis sets a failed transaction's error on every command of it, so
	// each commit's outcome is its own commands'; an error no command
	// carries (nothing was sent: an outage) is every commit's.
	perCommand := queued && (err == nil || firstErr(cmds) != nil)
	for i, c := range group {
		c.err = err
		if lo, hi := bounds[i], bounds[i+1]; perCommand && hi <= len(cmds) {
			c.err = firstErr(cmds[lo:hi])
		}
		close(c.done)
	}

	g.mu.Lock()
	more := len(g.waiting) > 0
	g.busy = more
	g.mu.Unlock()
	if more {
		go g.lead(send)
	}
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
