package llm_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
)

const openAIKey = "sk-proj-openai-session-0004"

// A session whose credential was accepted by openai_upstream has its worker
// calls made there, with its own key as Bearer and openai_worker_model; the
// Anthropic upstream never sees the key (docs/sessions-and-identity.md, Provider binding).
func TestOpenAIProviderCallsGoToOpenAIUpstream(t *testing.T) {
	e := newEnv(t)
	oai := fakeupstream.New(fakeupstream.Options{APIKeys: []string{openAIKey}})
	t.Cleanup(oai.Close)
	ou, _ := url.Parse(oai.URL())
	w := e.worker(t, auth.Credential{Scheme: auth.SchemeAPIKey, Value: serviceKey}, func(c *llm.Config) {
		c.OpenAIUpstream = ou
		c.OpenAIModel = "gpt-test-mini"
	})
	e.session(t, "sess-oai", auth.Credential{Scheme: auth.SchemeBearer, Value: openAIKey, Provider: auth.ProviderOpenAI})

	call := llm.Call{Kind: "test", SessionID: "sess-oai", Model: "claude-haiku-4-5", System: "sys <observations>", User: "hello", Urgent: true}
	if err := w.Submit(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	if applied, _ := e.calls.snapshot(); len(applied) != 1 || applied[0] == "" {
		t.Fatalf("applied %q", applied)
	}
	if n := len(e.up.Requests()); n != 0 {
		t.Fatalf("the Anthropic upstream got %d requests", n)
	}
	reqs := oai.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/chat/completions" {
		t.Fatalf("openai upstream requests: %+v", reqs)
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "Bearer "+openAIKey || h.Get("X-Api-Key") != "" || h.Get("Anthropic-Beta") != "" {
		t.Fatalf("auth headers: %v", h)
	}
	var body struct {
		Model    string `json:"model"`
		Max      int    `json:"max_completion_tokens"`
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != "gpt-test-mini" || body.Max != llm.DefaultMaxTokens || len(body.Messages) != 2 ||
		body.Messages[0].Role != "system" || body.Messages[1].Content != "hello" {
		t.Fatalf("body %s", reqs[0].Body)
	}
	e.noSecrets(t)
}

func TestOpenAIModelChoice(t *testing.T) {
	w := llm.New(llm.Config{Logger: zap.NewNop()})
	defer w.Close()
	for model, want := range map[string]string{
		"": llm.DefaultOpenAIModel, "claude-haiku-4-5": llm.DefaultOpenAIModel,
		"anthropic/claude-sonnet-4-5": llm.DefaultOpenAIModel, "gpt-4.1": "gpt-4.1",
	} {
		if got := w.OpenAIModel(llm.Call{Model: model}); got != want {
			t.Errorf("OpenAIModel(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestFirstChoiceText(t *testing.T) {
	if s, err := llm.FirstChoiceText([]byte(`{"choices":[{"message":{"content":"hi"}}]}`)); err != nil || s != "hi" {
		t.Fatalf("%q %v", s, err)
	}
	for _, bad := range []string{`{"choices":[]}`, `{"choices":[{"message":{"content":null}}]}`, `nope`} {
		if _, err := llm.FirstChoiceText([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The default openai_worker_model has a price of its own (not Sonnet's).
func TestDefaultOpenAIModelPriced(t *testing.T) {
	if _, known := pricing.Lookup(llm.DefaultOpenAIModel); !known {
		t.Fatalf("%s is not in the price table", llm.DefaultOpenAIModel)
	}
}
