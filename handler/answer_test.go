package handler

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// cutAnswers breaks every 2xx answer off half way: the body's read fails
// (the upstream's connection dropped mid-answer).
type cutAnswers struct{ next http.RoundTripper }

func (c cutAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(string(body[:len(body)/2])), failingReader{}))
	return resp, nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// chatTurn is an OpenAI chat completion that is a turn, not a utility call.
func chatTurn(model string) string {
	sys, _ := json.Marshal("You are a coding agent. " + strings.Repeat("Be precise. ", 50))
	tool := func(name string) string { return `{"type":"function","function":{"name":"` + name + `"}}` }
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"system","content":%s},{"role":"user","content":"refactor the parser"}],"tools":[%s,%s,%s]}`,
		model, sys, tool("bash"), tool("read"), tool("edit"))
}

// A non-streamed answer whose read fails reaches the client as a 502 in its
// own API's shape, on every route, never as an empty or truncated 200 (nor
// as the first round's answer when a recall follow-up's breaks off), and
// the turn is not stored.
func TestAnswerReadError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recall bool
		path   string
		body   string
		key    string
		openAI bool // the client's API, hence the error shape
		// followUp: only the answer to a recall follow-up breaks off, after
		// a first round that was read whole.
		followUp bool
	}{
		{name: "anthropic", path: "/v1/messages", body: conversation("hello", 1, ""), key: keyA},
		{name: "anthropic with recall", recall: true, path: "/v1/messages", body: conversation("hello", 1, ""), key: keyA},
		{name: "recall follow-up", recall: true, followUp: true, path: "/v1/messages", body: conversation("[[recall:anything]]", 1, ""), key: keyA},
		{name: "claude via openai", path: "/v1/chat/completions", body: chatTurn("claude-sonnet-4-5"), key: keyA, openAI: true},
		{name: "openai", path: "/v1/chat/completions", body: chatTurn("gpt-5"), key: openAIKey, openAI: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oai := fakeupstream.New(fakeupstream.Options{APIKeys: []string{openAIKey}})
			t.Cleanup(oai.Close)
			e := newEnv(t, func(c *Config) {
				c.OpenAIUpstream, _ = url.Parse(oai.URL())
				c.Transport = cutAnswers{NewTransport()}
				if tc.followUp {
					next := NewTransport()
					c.Transport = secondCall{next, cutAnswers{next}.RoundTrip, new(int)}
				}
			})
			if tc.recall {
				withRecall(e)
			}
			hdr := []string{"x-api-key", tc.key}
			if tc.openAI {
				hdr = []string{"Authorization", "Bearer " + tc.key}
			}
			code, _, body := e.post(tc.path, tc.body, hdr...)
			if code != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %q", code, body)
			}
			var shape struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &shape); err != nil || shape.Error.Message == "" {
				t.Fatalf("not an error envelope: %q", body)
			}
			if wantType := map[bool]string{false: "error", true: ""}[tc.openAI]; shape.Type != wantType {
				t.Fatalf("error shape of the wrong API (type %q): %s", shape.Type, body)
			}
			if ids := e.sessionIDs(); len(ids) != 0 {
				t.Fatalf("a turn whose answer could not be read was stored (%v)", ids)
			}
			if n := len(upstreamMessages(e)); tc.followUp && n != 2 {
				t.Fatalf("%d upstream calls, want the answer and its follow-up", n)
			}
		})
	}
}
