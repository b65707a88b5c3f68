package handler

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// readsBeforeCommit counts the Redis round trips a turn makes before its
// commit (the first MULTI): the reads the upstream request waits for.
type readsBeforeCommit struct {
	mu        sync.Mutex
	reads     int
	committed bool
}

func (h *readsBeforeCommit) reset() { h.mu.Lock(); h.reads, h.committed = 0, false; h.mu.Unlock() }

func (h *readsBeforeCommit) count(first string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.committed || first == "hello" || first == "client":
	case first == "multi":
		h.committed = true
	default:
		h.reads++
	}
}

func (h *readsBeforeCommit) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *readsBeforeCommit) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *readsBeforeCommit) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			h.count(cmds[0].Name())
		}
		return next(ctx, cmds)
	}
}

// A conversation's turn reads its lineage, its session's state and its
// distillations in one round trip before it is forwarded (a new session:
// its lineage and origin), once this instance has served the conversation
// (the hint); without the hint, one more, and the same session.
func TestStoredTurnReadsInOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	hook := &readsBeforeCommit{}
	e.store.AddHook(hook)
	for turns := 1; turns <= 4; turns++ {
		hook.reset()
		if code, _, body := e.post("/v1/messages", conversation("fix the build", turns, ""), "x-api-key", keyA, "anthropic-version", "2023-06-01"); code != 200 {
			t.Fatalf("turn %d: %d %s", turns, code, body)
		}
		hook.mu.Lock()
		reads, committed := hook.reads, hook.committed
		hook.mu.Unlock()
		if !committed {
			t.Fatalf("turn %d was not stored", turns)
		}
		if want := 1; reads != want {
			t.Fatalf("turn %d: %d round trips before forwarding, want %d", turns, reads, want)
		}
	}
	if ids := e.sessionIDs(); len(ids) != 1 {
		t.Fatalf("sessions %v, want one", ids)
	}

	// An instance without the hint (another one, or this one restarted)
	// serves the next turn: one more round trip, the same session.
	e.h.hints = sessionHints{}
	hook.reset()
	if code, _, body := e.post("/v1/messages", conversation("fix the build", 5, ""), "x-api-key", keyA, "anthropic-version", "2023-06-01"); code != 200 {
		t.Fatalf("turn without a hint: %d %s", code, body)
	}
	if hook.reads != 2 {
		t.Fatalf("a turn without a hint: %d round trips, want 2", hook.reads)
	}
	if ids := e.sessionIDs(); len(ids) != 1 {
		t.Fatalf("sessions %v after the other instance's turn, want one", ids)
	}
}
