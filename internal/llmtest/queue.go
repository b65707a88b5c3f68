// Package llmtest holds test doubles for the worker client's collaborators.
package llmtest

import (
	"context"
	"sync"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
)

// Queue is an llm.Enqueuer that records enqueued calls with their
// credential snapshots, as the batch queue would hold them, until a test
// takes them.
type Queue struct {
	mu    sync.Mutex
	calls []llm.Call
	creds []auth.Credential
}

// Enqueue records c and its credential.
func (q *Queue) Enqueue(_ context.Context, c llm.Call, cred auth.Credential) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, c)
	q.creds = append(q.creds, cred)
	return nil
}

// Take removes and returns the queued calls and their credentials.
func (q *Queue) Take() ([]llm.Call, []auth.Credential) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, cr := q.calls, q.creds
	q.calls, q.creds = nil, nil
	return c, cr
}

// Len is the number of queued calls.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls)
}
