package fakeupstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func TestFailNextSDK(t *testing.T) {
	s, _ := newServer(t, Options{})
	c := client(s)
	var ae *anthropic.Error

	s.FailNext(Failure{Path: "/v1/messages", Status: 429})
	_, err := c.Messages.New(context.Background(), params(userText("hi")))
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Type() != "rate_limit_error" || ae.Response.Header.Get("retry-after") != "1" ||
		ae.Response.Header.Get("anthropic-ratelimit-requests-limit") == "" || ae.RequestID == "" {
		t.Fatalf("429: %v", err)
	}
	s.FailNext(Failure{Status: 529})
	_, err = c.Messages.New(context.Background(), params(userText("hi")))
	if !errors.As(err, &ae) || ae.StatusCode != 529 || ae.Type() != "overloaded_error" || !jsonHas(ae.RawJSON(), "Overloaded") {
		t.Fatalf("529: %v", err)
	}
	s.FailNext(Failure{Status: 500})
	stream := c.Messages.NewStreaming(context.Background(), params(userText("hi")))
	for stream.Next() {
	}
	if err := stream.Err(); !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Type() != "api_error" {
		t.Fatalf("500 on a stream: %v", err)
	}
	// Consumed: the next request succeeds.
	if _, err := c.Messages.New(context.Background(), params(userText("hi"))); err != nil {
		t.Fatal(err)
	}
}

func jsonHas(raw, msg string) bool {
	var m struct {
		Error struct{ Message string }
	}
	return json.Unmarshal([]byte(raw), &m) == nil && m.Error.Message == msg
}

func TestFailNextRetriedBySDK(t *testing.T) {
	s, _ := newServer(t, Options{})
	// The SDK retries 5xx; retry-after-ms keeps it fast.
	s.FailNext(Failure{Status: 500, Count: 2, Header: http.Header{"Retry-After-Ms": {"1"}}})
	c := anthropic.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey(keyA)) // default 2 retries
	msg, err := c.Messages.New(context.Background(), params(userText("hi")))
	if err != nil || msg.Content[0].Text != "ok (turn 1)" {
		t.Fatalf("%v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[1].Header.Get("X-Stainless-Retry-Count") != "1" || reqs[2].Header.Get("X-Stainless-Retry-Count") != "2" {
		t.Fatalf("requests %d", len(reqs))
	}
}

func TestFailNextMatching(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.FailNext(Failure{Path: "/v1/messages/count_tokens", Status: 503})
	s.FailNext(Failure{Path: "/v1/messages/batches*", Status: 409, Body: `{"custom":true}`, Header: http.Header{"Content-Type": {"application/x-custom"}}})
	if r := post(t, s, "/v1/messages", hiBody); r.Status != 200 {
		t.Fatalf("unmatched path failed: %d", r.Status)
	}
	r := post(t, s, "/v1/messages/batches/msgbatch_x/cancel", "")
	if r.Status != 409 || r.Body != `{"custom":true}` || r.Header.Get("Content-Type") != "application/x-custom" {
		t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
	}
	wantError(t, post(t, s, "/v1/messages/count_tokens", `{}`), 503, "api_error", "Internal server error")
	// Forever.
	s.FailNext(Failure{Status: 504, Count: -1})
	for i := 0; i < 3; i++ {
		wantError(t, post(t, s, "/v1/messages", hiBody), 504, "timeout_error", "Request timed out")
	}
	// OpenAI routes get the OpenAI shape.
	s2, _ := newServer(t, Options{})
	s2.FailNext(Failure{Status: 429})
	r = do(t, http.MethodPost, s2.URL()+"/v1/chat/completions", `{}`, "Authorization: Bearer "+keyA)
	if r.Status != 429 || r.Body != `{"error":{"code":"rate_limit_exceeded","message":"Rate limit reached for requests. Please try again in 1s.","param":null,"type":"requests"}}` ||
		r.Header.Get("retry-after") != "1" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

func TestControlEndpoints(t *testing.T) {
	s, _ := newServer(t, Options{})
	r := do(t, http.MethodPost, s.URL()+"/_fake/fail", `{"path":"/v1/messages","status":429,"header":{"Retry-After":["7"]}}`)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r = post(t, s, "/v1/messages", hiBody)
	if r.Status != 429 || r.Header.Get("retry-after") != "7" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
	post(t, s, "/v1/messages", hiBody, "x-api-key: "+keyB)

	r = do(t, http.MethodGet, s.URL()+"/_fake/requests", "")
	var reqs []Request
	if err := json.Unmarshal([]byte(r.Body), &reqs); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	_ = json.Unmarshal([]byte(r.Body), &raw)
	if len(reqs) != 2 || reqs[0].Method != "POST" || reqs[0].Path != "/v1/messages" || string(reqs[1].Body) != hiBody ||
		reqs[1].Header.Get("X-Api-Key") != keyB || raw[1]["body"] != hiBody || reqs[0].At.IsZero() {
		t.Fatalf("requests: %s", r.Body)
	}
	if r := do(t, http.MethodPost, s.URL()+"/_fake/reset", ""); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if r := do(t, http.MethodGet, s.URL()+"/_fake/requests", ""); r.Body != "[]" {
		t.Fatalf("after reset: %s", r.Body)
	}
	if len(s.Requests()) != 0 {
		t.Fatal("Requests after reset")
	}
	if r := do(t, http.MethodPost, s.URL()+"/_fake/fail", `not json`); r.Status != 400 {
		t.Fatal(r.Status)
	}
}

func TestRecordingBound(t *testing.T) {
	defer func(n, b int) { maxRecorded, maxRecordedBytes = n, b }(maxRecorded, maxRecordedBytes)
	maxRecorded, maxRecordedBytes = 3, 10
	s := NewHandler(Options{})
	for i, body := range []string{"aaaa", "bbbb", "cc", "d", "eeeeeeeeeeee"} {
		s.record(Request{Path: string(rune('0' + i)), Body: []byte(body)})
	}
	var paths []string
	for _, r := range s.Requests() {
		paths = append(paths, r.Path)
	}
	// Count keeps 2,3,4 at most; bytes (2+1+12 > 10) drop down to the newest alone.
	if len(paths) != 1 || paths[0] != "4" || s.recordedBytes != 12 {
		t.Fatalf("%v %d", paths, s.recordedBytes)
	}
	s.record(Request{Path: "5", Body: []byte("f")})
	if got := s.Requests(); len(got) != 1 || got[0].Path != "5" {
		t.Fatalf("%v", got)
	}
}
