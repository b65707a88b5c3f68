package batching

import (
	"net/http"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// SPEC §2: a credential accepted by openai_upstream never reaches the
// Anthropic Message Batches API, even when its value is a key Anthropic
// would accept; its items form their own group (provider, credential) and
// run synchronously, keeping their provider.
func TestOpenAIProviderItemsNeverBatchedOnAnthropic(t *testing.T) {
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
	credO := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA, Provider: auth.ProviderOpenAI}
	e.enqueue(q, call("A", 0), credA)
	e.enqueue(q, call("O", 0), credO)
	q.flushAll()
	waitFor(t, "O's item applied", func() bool { return len(e.runner.appliedTo("O item 0")) == 1 })
	cs := e.creates()
	if len(cs) != 1 || len(cs[0].users) != 1 || cs[0].users[0] != "A item 0" {
		t.Fatalf("creates = %+v", cs)
	}
	e.runner.mu.Lock()
	got := e.runner.creds["O item 0"]
	e.runner.mu.Unlock()
	if got != credO {
		t.Fatalf("the synchronous run got a %v credential of provider %v", got, got.Provider)
	}
	q.pollAll()
	if n := e.count(http.MethodPost, "/v1/messages/batches"); n != 1 {
		t.Fatalf("%d batch creates, want 1", n)
	}
}
