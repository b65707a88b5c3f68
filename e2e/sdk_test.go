package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// sdkClient is an anthropic-sdk-go client on base with the given auth
// options, ignoring the environment (ANTHROPIC_API_KEY etc.) and never retrying.
func sdkClient(base string, opts ...option.RequestOption) anthropic.Client {
	all := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(60 * time.Second),
	}
	return anthropic.NewClient(append(all, opts...)...)
}

// sdkTurn sends params non-streaming or streaming and returns the reply.
func sdkTurn(t *testing.T, c anthropic.Client, params anthropic.MessageNewParams, stream bool) (anthropic.Message, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if !stream {
		m, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatalf("Messages.New: %v", err)
		}
		return *m, nil
	}
	s := c.Messages.NewStreaming(ctx, params)
	defer func() { _ = s.Close() }()
	var acc anthropic.Message
	var events []string
	for s.Next() {
		ev := s.Current()
		events = append(events, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return acc, events
}

func textOf(m anthropic.Message) string {
	var sb strings.Builder
	for _, b := range m.Content {
		if b.Type == "text" {
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}

// runSDKConversation drives a 4-turn conversation (JSON, SSE, JSON, SSE)
// through the gateway with auth, and the same requests directly against the
// fake, checking on every turn what the fake received and that the client got
// the same answer as without the gateway. check inspects each recorded
// upstream request. Returns the user-message markers.
func runSDKConversation(t *testing.T, e *Env, auth []option.RequestOption, check func(h http.Header)) []string {
	gw := sdkClient(e.URL, auth...)
	direct := sdkClient(e.Fake.URL(), auth...)
	marker := "e2e-sdk-" + randHex(6)
	var markers []string
	var history []anthropic.MessageParam
	for turn := 1; turn <= 4; turn++ {
		stream := turn%2 == 0
		mk := fmt.Sprintf("%s-t%d", marker, turn)
		markers = append(markers, mk)
		history = append(history, anthropic.NewUserMessage(anthropic.NewTextBlock(
			fmt.Sprintf("Turn %d (%s): please summarise what we did so far in one line.", turn, mk))))
		params := anthropic.MessageNewParams{
			Model:     testModel,
			MaxTokens: 512,
			System:    []anthropic.TextBlockParam{{Text: longSystem}},
			Messages:  history,
		}

		before := len(e.Requests("/v1/messages"))
		got, gotEvents := sdkTurn(t, gw, params, stream)
		recs := e.Requests("/v1/messages")
		if len(recs) != before+1 {
			t.Fatalf("turn %d: fake received %d /v1/messages requests, want 1", turn, len(recs)-before)
		}
		rec := recs[len(recs)-1]
		check(rec.Header)
		body := bodyJSON(t, rec.Body)
		if n := len(body["messages"].([]any)); n != len(history) {
			t.Errorf("turn %d: upstream got %d messages, client sent %d", turn, n, len(history))
		}
		if s, _ := body["stream"].(bool); s != stream {
			t.Errorf("turn %d: upstream stream=%v, want %v", turn, s, stream)
		}
		if !strings.Contains(string(rec.Body), mk) {
			t.Errorf("turn %d: upstream body lacks this turn's text", turn)
		}

		want, wantEvents := sdkTurn(t, direct, params, stream)
		// The SDK's own anthropic-version (2026-10-21 in anthropic-sdk-go
		// v2) reaches the upstream as it reaches it without the gateway.
		directRecs := e.Requests("/v1/messages")
		if v := rec.Header.Get("Anthropic-Version"); v == "" || v != directRecs[len(directRecs)-1].Header.Get("Anthropic-Version") {
			t.Errorf("turn %d: upstream anthropic-version %q, the SDK sends %q", turn, v, directRecs[len(directRecs)-1].Header.Get("Anthropic-Version"))
		}
		if textOf(got) == "" {
			t.Errorf("turn %d: empty reply through the gateway", turn)
		}
		if textOf(got) != textOf(want) {
			t.Errorf("turn %d: gateway reply %q != direct reply %q", turn, textOf(got), textOf(want))
		}
		if got.StopReason != want.StopReason || got.Usage.OutputTokens != want.Usage.OutputTokens {
			t.Errorf("turn %d: stop_reason/usage differ: gateway %s/%d direct %s/%d", turn,
				got.StopReason, got.Usage.OutputTokens, want.StopReason, want.Usage.OutputTokens)
		}
		if stream && strings.Join(gotEvents, ",") != strings.Join(wantEvents, ",") {
			t.Errorf("turn %d: SSE events differ:\n gateway %v\n direct  %v", turn, gotEvents, wantEvents)
		}
		history = append(history, got.ToParam())
	}
	return markers
}

// An API-key conversation: anthropic-sdk-go v2 sends the key as
// Authorization: Bearer; the upstream sees exactly that key in x-api-key (the
// one header of an API key) and nothing else; the turns are stored in Redis.
func TestSDKAPIKeyConversation(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	key := e.Creds.Alice
	markers := runSDKConversation(t, e, []option.RequestOption{option.WithAPIKey(key)},
		func(h http.Header) { checkAPIKeyOnly(t, h, key) })
	checkStored(t, e, markers)
}

// An OAuth (bearer) conversation: the upstream sees exactly
// Authorization: Bearer plus the client's anthropic-beta.
func TestSDKOAuthConversation(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	tok := e.Creds.OAuth
	markers := runSDKConversation(t, e, []option.RequestOption{
		option.WithAuthToken(tok),
		option.WithHeader("anthropic-beta", "oauth-2025-04-20"),
	}, func(h http.Header) { checkBearerOnly(t, h, tok) })
	checkStored(t, e, markers)
}

// checkStored: each user turn's text was stored somewhere under lore:, and all
// of one conversation's turns live in the same key set (one session).
func checkStored(t *testing.T, e *Env, markers []string) {
	t.Helper()
	var dump map[string]string
	ok := waitFor(5*time.Second, func() bool {
		var err error
		dump, err = e.Redis.Dump(context.Background())
		return err == nil && len(KeysContaining(dump, markers[len(markers)-1])) > 0
	})
	if !ok {
		t.Errorf("last turn's text %q not found in Redis (%d keys: %v)", markers[len(markers)-1], len(dump), keyNames(dump))
		return
	}
	for k := range dump {
		if !strings.HasPrefix(k, "lore:") {
			t.Errorf("redis key %q outside the lore: prefix", k)
		}
	}
	first := KeysContaining(dump, markers[0])
	last := KeysContaining(dump, markers[len(markers)-1])
	if len(first) == 0 || !overlap(first, last) {
		t.Errorf("first and last turn not stored in the same session: %v vs %v", first, last)
	}
}

func keyNames(dump map[string]string) []string {
	var ks []string
	for k := range dump {
		ks = append(ks, k)
	}
	return ks
}

func overlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// count_tokens and models go upstream with the caller's credential, untouched.
func TestSDKOtherRoutes(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	ctx := context.Background()

	for _, tc := range []struct {
		name  string
		auth  []option.RequestOption
		check func(http.Header)
	}{
		{"api-key", []option.RequestOption{option.WithAPIKey(e.Creds.Bob)}, func(h http.Header) { checkAPIKeyOnly(t, h, e.Creds.Bob) }},
		{"oauth", []option.RequestOption{option.WithAuthToken(e.Creds.OAuth2), option.WithHeader("anthropic-beta", "oauth-2025-04-20")},
			func(h http.Header) { checkBearerOnly(t, h, e.Creds.OAuth2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sdkClient(e.URL, tc.auth...)
			e.Fake.Reset()
			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
				Model:    testModel,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("count me"))},
			})
			if err != nil {
				t.Fatalf("count_tokens: %v", err)
			}
			if n.InputTokens <= 0 {
				t.Errorf("count_tokens input_tokens = %d", n.InputTokens)
			}
			recs := e.Requests("/v1/messages/count_tokens")
			if len(recs) != 1 {
				t.Fatalf("fake got %d count_tokens requests", len(recs))
			}
			tc.check(recs[0].Header)
			if strings.Contains(string(recs[0].Body), "max_tokens") {
				t.Errorf("count_tokens body gained max_tokens: %s", truncate(recs[0].Body, 200))
			}

			page, err := c.Models.List(ctx, anthropic.ModelListParams{})
			if err != nil {
				t.Fatalf("models: %v", err)
			}
			if len(page.Data) == 0 {
				t.Errorf("models list empty")
			}
			recs = e.Requests("/v1/models")
			if len(recs) != 1 {
				t.Fatalf("fake got %d /v1/models requests", len(recs))
			}
			tc.check(recs[0].Header)
		})
	}
}

// The SDK sees upstream errors as the upstream sent them: status, type,
// message, retry-after.
func TestSDKUpstreamErrorsRelayed(t *testing.T) {
	e := NewEnv(t, EnvOptions{})
	c := sdkClient(e.URL, option.WithAPIKey(e.Creds.Alice))
	params := anthropic.MessageNewParams{
		Model:     testModel,
		MaxTokens: 64,
		System:    []anthropic.TextBlockParam{{Text: longSystem}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}
	for _, status := range []int{429, 529} {
		e.Fake.FailNext(fakeFailure("/v1/messages", status))
		_, err := c.Messages.New(context.Background(), params)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("status %d: error %v is not an *anthropic.Error", status, err)
		}
		if apiErr.StatusCode != status {
			t.Errorf("client saw status %d, upstream sent %d", apiErr.StatusCode, status)
		}
		if status == 429 && apiErr.Response.Header.Get("Retry-After") == "" {
			t.Errorf("429 lost retry-after")
		}
		var env struct {
			Error struct{ Type string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(apiErr.RawJSON()), &env)
		want := map[int]string{429: "rate_limit_error", 529: "overloaded_error"}[status]
		if env.Error.Type != want {
			t.Errorf("status %d: error.type %q, want %q (raw %s)", status, env.Error.Type, want, apiErr.RawJSON())
		}
	}
}
