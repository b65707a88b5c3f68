package batching

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// A credential accepted by openai_upstream never reaches the Anthropic Message
// Batches API, even when its value is a key Anthropic would accept; its items
// form their own group (provider, credential) and, with no OpenAI upstream
// configured for batches, run synchronously, keeping their provider
// (docs/sessions-and-identity.md, Provider binding).
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

// With an OpenAI upstream configured, an OpenAI-provider group goes through
// the OpenAI Batch API there — the JSONL file upload, the batch create for
// /v1/chat/completions naming its record, polling, the output file — with
// that credential as Bearer; the Anthropic upstream never sees it, and
// nothing runs synchronously.
func TestOpenAIBatchAPI(t *testing.T) {
	const oKey = "sk-proj-batching-openai-key"
	oai := fakeupstream.New(fakeupstream.Options{APIKeys: []string{oKey}, BatchDelay: 50 * time.Millisecond})
	t.Cleanup(oai.Close)
	ou, _ := url.Parse(oai.URL())
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000; c.OpenAIUpstream = ou }})
	credO := auth.Credential{Scheme: auth.SchemeBearer, Value: oKey, Provider: auth.ProviderOpenAI}
	e.enqueue(q, call("A", 0), credA)
	e.enqueue(q, call("O", 0), credO)
	e.enqueue(q, call("O", 1), credO)
	q.flushAll()
	waitFor(t, "every item applied", func() bool {
		q.pollAll()
		a, _ := e.runner.counts()
		return a == 3
	})
	if got := e.runner.appliedTo("O item 1"); len(got) != 1 || got[0] != "ok (turn 1)" {
		t.Fatalf("O item 1 applied %q", got)
	}
	e.runner.mu.Lock()
	syncRuns := e.runner.dos["O item 0"] + e.runner.dos["O item 1"]
	e.runner.mu.Unlock()
	if syncRuns != 0 {
		t.Fatalf("%d OpenAI items ran synchronously", syncRuns)
	}
	cs := e.creates()
	if len(cs) != 1 || len(cs[0].users) != 1 || cs[0].users[0] != "A item 0" {
		t.Fatalf("Anthropic creates = %+v", cs)
	}
	for _, r := range e.up.Requests() {
		if strings.Contains(r.Header.Get("Authorization"), oKey) || strings.Contains(string(r.Body), "O item") {
			t.Fatalf("the Anthropic upstream saw the OpenAI group: %s %s", r.Method, r.Path)
		}
	}
	var paths []string
	for _, r := range oai.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
		if r.Header.Get("Authorization") != "Bearer "+oKey || r.Header.Get("X-Api-Key") != "" || r.Header.Get("Anthropic-Version") != "" {
			t.Errorf("%s %s: auth headers %v", r.Method, r.Path, r.Header)
		}
		switch {
		case r.Path == "/v1/files":
			for _, want := range []string{`name="purpose"`, "batch", `"custom_id":"distill-`, `"url":"/v1/chat/completions"`, `"model":"gpt-test-mini"`, "O item 0", "O item 1"} {
				if !strings.Contains(string(r.Body), want) {
					t.Errorf("file upload lacks %q", want)
				}
			}
		case r.Path == "/v1/batches" && r.Method == http.MethodPost:
			if !strings.Contains(string(r.Body), `"endpoint":"/v1/chat/completions"`) || !strings.Contains(string(r.Body), `"lore_record":"r`) {
				t.Errorf("batch create body %s", r.Body)
			}
		}
	}
	joined := strings.Join(paths, ", ")
	for _, want := range []string{"POST /v1/files", "POST /v1/batches", "GET /v1/batches/batch_fake", "/content"} {
		if !strings.Contains(joined, want) {
			t.Errorf("openai_upstream requests %s lack %q", joined, want)
		}
	}
	s := e.stats(q)
	if s.Batches != 2 || s.Resolved != 3 || s.Fallback != 0 {
		t.Fatalf("stats %+v", s)
	}
	// The input, output (and any error) files hold conversations: deleted.
	waitFor(t, "the batch files deleted", func() bool { return oai.Files() == 0 })
}

// An OpenAI batch line reads as Anthropic's row: a 200 with a completion
// succeeded (text, usage with cached tokens apart), anything else errored
// with its code.
func TestOpenAIRow(t *testing.T) {
	ok, good := openAIRow([]byte(`{"id":"r1","custom_id":"c1","response":{"status_code":200,"body":{"model":"gpt-5-mini","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":40}}}},"error":null}`))
	if !good || ok.Result.Type != "succeeded" || ok.Result.Message.Content[0].Text != "hi" ||
		ok.Result.Message.Usage.InputTokens != 60 || ok.Result.Message.Usage.CacheReadTokens != 40 || ok.Result.Message.Usage.OutputTokens != 5 {
		t.Fatalf("succeeded row %+v", ok)
	}
	bad, good := openAIRow([]byte(`{"id":"r2","custom_id":"c2","response":null,"error":{"code":"invalid_request","message":"nope"}}`))
	if !good || bad.Result.Type != "errored" || !strings.Contains(rowError(bad.Result.Error, credA).Error(), "invalid_request: nope") {
		t.Fatalf("errored row %+v", bad)
	}
	r400, _ := openAIRow([]byte(`{"custom_id":"c3","response":{"status_code":400,"body":{"error":{"type":"invalid_request_error","message":"bad"}}},"error":null}`))
	if r400.Result.Type != "errored" || !strings.Contains(rowError(r400.Result.Error, credA).Error(), "invalid_request_error: bad") {
		t.Fatalf("400 row %+v", r400)
	}
	if _, good := openAIRow([]byte(`{"custom_id":""}`)); good {
		t.Fatal("a row without custom_id")
	}
}

// An OpenAI batch create whose answer was lost (the batch exists upstream)
// is reconciled one lease period later by the record id in the batch's
// metadata: adopted, polled, its output applied, nothing run twice.
func TestOpenAIBatchReconciledByMetadata(t *testing.T) {
	const oKey = "sk-proj-batching-openai-key"
	oai := fakeupstream.New(fakeupstream.Options{APIKeys: []string{oKey}})
	t.Cleanup(oai.Close)
	ou, _ := url.Parse(oai.URL())
	e := newEnv(t, backends(t)[0].cfg, fakeupstream.Options{})
	tr := hookTransport{next: http.DefaultTransport, hook: func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil && req.Method == http.MethodPost && req.URL.Host == ou.Host && req.URL.Path == "/v1/batches" {
			_ = resp.Body.Close()
			return nil, errors.New("read: connection reset by peer")
		}
		return resp, err
	}}
	clock := new(clockOffset)
	q := e.queue(queueOpts{transport: tr, clock: &clock.Int64, cfg: func(c *Config) { c.MaxItems = 1000; c.OpenAIUpstream = ou }})
	credO := auth.Credential{Scheme: auth.SchemeBearer, Value: oKey, Provider: auth.ProviderOpenAI}
	for i := range 3 {
		e.enqueue(q, call("O", i), credO)
	}
	q.flushAll()
	q.pollAll()
	if s := e.stats(q); s.Submitting != 1 {
		t.Fatalf("before the lease expired: %+v", s)
	}
	clock.Store(int64(time.Minute))
	waitFor(t, "3 applied", func() bool {
		q.pollAll()
		a, _ := e.runner.counts()
		return a == 3
	})
	if e.runner.doCount() != 0 {
		t.Fatal("items ran synchronously instead of adopting the batch")
	}
	creates := 0
	for _, r := range oai.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/batches" {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d batch creates, want 1", creates)
	}
}
