package handler

import (
	"context"
	"sync"
	"time"
)

// pendingCommits orders a session's turns inside this instance: a turn's
// answer reaches the client before its state is written (the write is off
// the client's critical path), so the next turn of the same lineage waits for
// that write before it reads the session. Across instances the window is the
// write itself (about a Redis round trip).
type pendingCommits struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// begin marks lineage as having a commit in progress.
func (p *pendingCommits) begin(lineage string) chan struct{} {
	ch := make(chan struct{})
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]chan struct{})
	}
	p.m[lineage] = ch
	p.mu.Unlock()
	return ch
}

// end marks the commit done and wakes the turns waiting for it.
func (p *pendingCommits) end(lineage string, ch chan struct{}) {
	p.mu.Lock()
	if p.m[lineage] == ch {
		delete(p.m, lineage)
	}
	p.mu.Unlock()
	close(ch)
}

// wait blocks until lineage has no commit in progress, ctx ends, or max
// passes (a stuck write must not stall the conversation).
func (p *pendingCommits) wait(ctx context.Context, lineage string, max time.Duration) {
	p.mu.Lock()
	ch := p.m[lineage]
	p.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-t.C:
	}
}
