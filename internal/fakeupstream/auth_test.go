package fakeupstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

const hiBody = `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`

func TestAuth(t *testing.T) {
	s, _ := newServer(t, Options{})
	cases := []struct {
		name    string
		headers []string
		status  int
		msg     string
	}{
		{"api key", []string{"x-api-key: " + keyA}, 200, ""},
		{"second api key", []string{"x-api-key: " + keyB}, 200, ""},
		{"unknown api key", []string{"x-api-key: sk-nope"}, 401, "invalid x-api-key"},
		{"oauth token as api key", []string{"x-api-key: " + oauthT}, 401, "invalid x-api-key"},
		{"missing", nil, 401, "x-api-key header is required"},
		{"oauth with beta", []string{"Authorization: Bearer " + oauthT, "anthropic-beta: claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14"}, 200, ""},
		{"oauth with repeated beta header", []string{"Authorization: Bearer " + oauthT, "anthropic-beta: claude-code-20250219", "anthropic-beta: oauth-2025-04-20"}, 200, ""},
		{"oauth without beta", []string{"Authorization: Bearer " + oauthT}, 401, "OAuth authentication is currently not supported."},
		{"oauth other beta", []string{"Authorization: Bearer " + oauthT, "anthropic-beta: prompt-caching-2024-07-31"}, 401, "OAuth authentication is currently not supported."},
		{"unknown bearer", []string{"Authorization: Bearer sk-ant-oat01-unknown", "anthropic-beta: oauth-2025-04-20"}, 401, "Invalid bearer token"},
		{"api key as bearer (anthropic-sdk-go v2)", []string{"Authorization: Bearer " + keyA}, 200, ""},
		{"api key as bearer with the oauth beta", []string{"Authorization: Bearer " + keyA, "anthropic-beta: oauth-2025-04-20"}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := append([]string{"anthropic-version: 2023-06-01"}, c.headers...)
			r := do(t, http.MethodPost, s.URL()+"/v1/messages?beta=true", hiBody, h...)
			if c.status == 200 {
				if r.Status != 200 || !strings.Contains(r.Body, `"text":"ok (turn 1)"`) {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				return
			}
			wantError(t, r, c.status, "authentication_error", c.msg)
		})
	}
	r := do(t, http.MethodPost, s.URL()+"/v1/messages", hiBody, "x-api-key: "+keyA)
	wantError(t, r, 400, "invalid_request_error", "anthropic-version: header is required")

	// Every request was recorded, 401s included, with its credential.
	reqs := s.Requests()
	if len(reqs) != len(cases)+1 || reqs[2].Header.Get("x-api-key") != "sk-nope" || reqs[0].RawQuery != "beta=true" || string(reqs[4].Body) != hiBody {
		t.Fatalf("recorded %d requests: %+v", len(reqs), reqs[:3])
	}
}

func TestOAuthHeaders(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := post(t, s, "/v1/messages", hiBody, "Authorization: Bearer "+oauthT, "anthropic-beta: oauth-2025-04-20")
	if r.Status != 200 || r.Header.Get("anthropic-ratelimit-unified-status") != "allowed" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
	r = post(t, s, "/v1/messages", hiBody)
	if r.Header.Get("anthropic-ratelimit-unified-status") != "" {
		t.Fatal("unified headers on an api-key response")
	}
}

func TestSDKOAuth(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithAuthToken(oauthT), option.WithMaxRetries(0))
	_, err := c.Messages.New(context.Background(), params(userText("hi")))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.RawJSON(), "OAuth authentication is currently not supported.") {
		t.Fatalf("without beta: %v", err)
	}
	msg, err := c.Messages.New(context.Background(), params(userText("hi")), option.WithHeader("anthropic-beta", "oauth-2025-04-20"))
	if err != nil || msg.Content[0].Text != "ok (turn 1)" {
		t.Fatalf("with beta: %v", err)
	}
	last := s.Requests()[1]
	if last.Header.Get("Authorization") != "Bearer "+oauthT || last.Header.Get("x-api-key") != "" {
		t.Fatalf("headers %v", last.Header)
	}
}

func TestUnknownRoute(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := do(t, http.MethodGet, s.URL()+"/v1/nothing", "", "x-api-key: "+keyA)
	wantError(t, r, 404, "not_found_error", "Not Found")
}
