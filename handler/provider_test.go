package handler

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

const openAIKey = "sk-proj-handler-openai-key-0001"

// twoUpstreams is an env whose openai_upstream is a second fake, so a test
// can tell which provider received what.
func twoUpstreams(t *testing.T) (*env, *fakeupstream.Server) {
	oai := fakeupstream.New(fakeupstream.Options{APIKeys: []string{openAIKey}})
	t.Cleanup(oai.Close)
	e := newEnv(t, func(c *Config) { c.OpenAIUpstream, _ = url.Parse(oai.URL()) })
	return e, oai
}

func sawKey(reqs []fakeupstream.Request, key string) bool {
	for _, r := range reqs {
		if r.Header.Get("X-Api-Key") == key || r.Header.Get("Authorization") == "Bearer "+key {
			return true
		}
	}
	return false
}

// Passthrough routing (docs/sessions-and-identity.md, Provider binding):
// x-api-key, anthropic-version or a Bearer sk-ant- token → Anthropic; anything
// else → openai_upstream.
func TestPassthroughRouting(t *testing.T) {
	e, oai := twoUpstreams(t)
	get := func(hdr ...string) int {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/models", nil)
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	get("Authorization", "Bearer "+openAIKey) // an OpenAI SDK's GET /v1/models
	if sawKey(e.fake.Requests(), openAIKey) || !sawKey(oai.Requests(), openAIKey) {
		t.Fatal("an OpenAI key's passthrough went to the Anthropic upstream")
	}
	get("x-api-key", keyA)
	get("Authorization", "Bearer "+oauthT, "anthropic-beta", auth.OAuthBeta)
	get("Authorization", "Bearer other", "anthropic-version", "2023-06-01")
	if !sawKey(e.fake.Requests(), keyA) || !sawKey(e.fake.Requests(), oauthT) || !sawKey(e.fake.Requests(), "other") {
		t.Fatal("Anthropic clients' passthrough did not reach the Anthropic upstream")
	}
	if sawKey(oai.Requests(), keyA) || sawKey(oai.Requests(), oauthT) || sawKey(oai.Requests(), "other") {
		t.Fatal("an Anthropic credential reached openai_upstream")
	}
}

// A non-Claude chat turn's credential is sealed as openai_upstream's, and
// an OpenRouter-style anthropic/claude-… model with a non-Anthropic key goes
// to openai_upstream, not to Anthropic.
func TestChatCredentialProvider(t *testing.T) {
	e, oai := twoUpstreams(t)
	c := openAIClient(e, openAIKey)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-5")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("anthropic/claude-sonnet-4-5")); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if sawKey(e.fake.Requests(), openAIKey) {
		t.Fatal("the OpenAI key reached the Anthropic upstream")
	}
	if n := len(oai.Requests()); n != 2 {
		t.Fatalf("openai_upstream got %d requests, want 2", n)
	}
	ids := e.sessionIDs()
	if len(ids) != 2 {
		t.Fatalf("sessions %v", ids)
	}
	for _, id := range ids {
		blob, err := e.store.CredentialBlob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := e.keys.Open(blob, id)
		if err != nil || cred.Value != openAIKey || cred.Provider != auth.ProviderOpenAI {
			t.Fatalf("session %s credential: provider %v, %v", id, cred.Provider, err)
		}
	}
	// A Claude model with an Anthropic key still goes to Anthropic, sealed as Anthropic's.
	ca := openAIClient(e, keyA)
	if _, err := ca.Chat.Completions.New(context.Background(), chatParams("claude-sonnet-4-5")); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if !sawKey(e.fake.Requests(), keyA) || sawKey(oai.Requests(), keyA) {
		t.Fatal("a Claude model with an Anthropic key did not go to Anthropic")
	}
}
