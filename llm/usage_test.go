package llm_test

import (
	"context"
	"sync"
	"testing"

	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// Every synchronous call of a session that answered reports its usage, with
// the model that answered (per-person usage); calls without a session do not.
func TestOnUsageReportsSyncCalls(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []pricing.Usage
	var models, sessions []string
	w := e.worker(t, service, func(c *llm.Config) {
		c.OnUsage = func(_ context.Context, call llm.Call, model string, u pricing.Usage) {
			mu.Lock()
			defer mu.Unlock()
			got, models, sessions = append(got, u), append(models, model), append(sessions, call.SessionID)
		}
	})
	ctx := context.Background()
	if err := w.Submit(ctx, llm.Call{Kind: "test", SessionID: "s1", Urgent: true, User: "one", System: "a system prompt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Prompt(ctx, llm.Call{Kind: "compact", SessionID: "s2", User: "two"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || sessions[0] != "s1" || sessions[1] != "s2" || models[0] != "claude-haiku-4-5" {
		t.Fatalf("reports: %v %v %v", got, models, sessions)
	}
	for _, u := range got {
		if u.InputTokens+u.CacheReadTokens+u.CacheWriteTokens == 0 || u.OutputTokens == 0 {
			t.Fatalf("usage not read from the answer: %+v", u)
		}
	}
}
