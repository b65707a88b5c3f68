// Package llm is the gateway's worker client: the background LLM calls it
// makes on a session's behalf (distillation, meta-distillation, compaction,
// curation). A call is described by a Call; its result is applied by the
// Applier registered for the call's Kind — by the code that asked for it,
// identified by kind and session, never by an in-memory promise — so a result
// that arrives from the batch queue after a restart is applied all the same.
package llm

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/caddy-lore/caddy-lore/auth"
)

// DefaultMaxTokens is a worker call's max_tokens (docs/context-window.md, Distillation).
const DefaultMaxTokens = 8192

// DefaultModel is the worker model when worker_model is not set.
const DefaultModel = "claude-haiku-4-5"

// Call is one worker LLM call: a system prompt and one user message.
type Call struct {
	Kind      string          `json:"kind"`    // "distill", "meta", "compact", "curate", ...
	SessionID string          `json:"session"` // whose work it is; resolves the credential
	Model     string          `json:"model,omitempty"`
	System    string          `json:"system"`
	User      string          `json:"user"`
	MaxTokens int             `json:"max_tokens,omitempty"`
	Urgent    bool            `json:"urgent,omitempty"`
	Ref       json.RawMessage `json:"ref,omitempty"` // what the applier needs, e.g. the message range distilled
}

// Applier applies a call's result where it belongs. text is the first text
// block of the answer.
type Applier func(ctx context.Context, c Call, text string) error

// Failer is told when a call failed for good (no credential, refused,
// errored batch row, ...) so the caller can release guards; the work is left
// for the normal triggers to retry.
type Failer func(ctx context.Context, c Call, err error)

// Enqueuer is the batch queue as the worker sees it: it takes a non-urgent
// call together with the credential snapshot it must be billed to.
type Enqueuer interface {
	Enqueue(ctx context.Context, c Call, cred auth.Credential) error
}

// ErrNoCredential means neither the session nor the operator has a credential
// for the call; it is skipped (no cross-user fallback: docs/sessions-and-identity.md,
// Whose credential pays for background work).
var ErrNoCredential = errors.New("no credential for worker call")
