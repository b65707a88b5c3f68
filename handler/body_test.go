package handler

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// trickle yields a few bytes, then an error: a client that announced a
// large body and sent almost nothing of it.
type trickle struct{ sent bool }

func (t *trickle) Read(p []byte) (int, error) {
	if t.sent {
		return 0, io.ErrUnexpectedEOF
	}
	t.sent = true
	return copy(p, `{"model":`), nil
}

// TestReadBodyAllocatesWhatArrives: a Content-Length of 30 MiB with nine
// bytes behind it costs the first buffer, not 30 MiB.
func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	h := New(Config{MaxBody: 32 << 20})
	defer h.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 4; i++ {
		r := httptest.NewRequest(http.MethodPost, "/v1/messages", &trickle{})
		r.ContentLength = 30 << 20
		if _, ok := h.readBody(httptest.NewRecorder(), r, anthropicFlavor, refusedMessagesPrefix); ok {
			t.Fatal("a truncated body was read as complete")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("4 truncated reads allocated %d bytes: the buffer follows Content-Length, not the bytes", got)
	}
}

// TestReadGrowing: every size around the growth steps reads back exactly,
// with or without a (truthful) declared length; a truthful one ends in a
// buffer of its size plus one.
func TestReadGrowing(t *testing.T) {
	for _, n := range []int{0, 1, firstRead - 1, firstRead, firstRead + 1, 3*firstRead + 7, 1 << 20} {
		body := bytes.Repeat([]byte("x"), n)
		for _, declared := range []int64{-1, int64(n)} {
			got, err := readGrowing(io.LimitReader(bytes.NewReader(body), int64(n)), declared, nil)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("n=%d declared=%d: %d bytes, %v", n, declared, len(got), err)
			}
			if declared == int64(n) && cap(got) != n+1 {
				t.Fatalf("n=%d: cap %d, want %d", n, cap(got), n+1)
			}
		}
	}
}

// TestHostileBodiesRefused: shapes that would cost far more decoded than
// their size, and bodies the gateway could read differently from the
// upstream, get 400 invalid_request_error and never reach the upstream.
func TestHostileBodiesRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBody = 32 << 20 })
	rep := func(elem string, n int) string { return strings.TrimSuffix(strings.Repeat(elem+",", n), ",") }
	const n = 3 << 20 // ~9 MiB of `{},`
	for name, body := range map[string]string{
		"empty messages":                `{"model":"x","max_tokens":1,"messages":[` + rep(`{}`, n) + `]}`,
		"empty blocks":                  `{"model":"x","max_tokens":1,"messages":[{"role":"user","content":[` + rep(`{}`, n) + `]}]}`,
		"empty content arrays":          `{"model":"x","max_tokens":1,"messages":[` + rep(`{"role":"user","content":[]}`, n/8) + `]}`,
		"deep nesting":                  `{"model":"x","max_tokens":1,"tools":` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + `,"messages":[{"role":"user","content":"hi"}]}`,
		"deep tool input":               `{"model":"x","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat("}", 200) + `}]}]}`,
		"many top-level fields":         `{"model":"x",` + rep(`"f":1`, 1000) + `,"messages":[{"role":"user","content":"hi"}]}`,
		"duplicate messages":            `{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"messages":[{"role":"user","content":"other"}]}`,
		"escaped duplicate":             `{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"m\u0065ssages":[{"role":"user","content":"other"}]}`,
		"duplicate model":               `{"model":"claude-haiku-4-5","mod\u0065l":"claude-opus-4-1","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
		"duplicate user_id":             `{"model":"x","max_tokens":1,"metadata":{"user_id":"a","user_id":"b"},"messages":[{"role":"user","content":"hi"}]}`,
		"mismatched brackets":           `{"model":"x","max_tokens":1,"tools":[1,2},"messages":[{"role":"user","content":"hi"}]}`,
		"junk literal":                  `{"model":"x","max_tokens":1,"stream":tru,"messages":[{"role":"user","content":"hi"}]}`,
		"bad escape in a skipped value": `{"model":"x","max_tokens":1,"x":"\q","messages":[{"role":"user","content":"hi"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, hdr, resp := e.post("/v1/messages", body, "x-api-key", keyA)
			assertAnthropicError(t, status, hdr, resp, 400, "invalid_request_error")
			if len(resp) > 1000 {
				t.Fatalf("error message too long: %d bytes", len(resp))
			}
		})
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("%d hostile requests reached the upstream", n)
	}
}

// TestEscapedKeysAreRead: a key sent with escapes is the key the upstream
// reads, so the gateway reads (and transforms) it too.
func TestEscapedKeysAreRead(t *testing.T) {
	e := newEnv(t)
	body := strings.Replace(conversation("escaped keys", 3, ""), `"messages"`, `"m\u0065ssages"`, 1)
	if !strings.Contains(body, `m\u0065ssages`) {
		t.Fatal("no escaped key in the body")
	}
	status, _, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	if ids := e.sessionIDs(); len(ids) != 1 || len(e.messages(ids[0])) == 0 {
		t.Fatalf("the turn was not read as a conversation: sessions %v", ids)
	}
}

// TestHostileChatBodiesRefused: the OpenAI route measures a body before
// encoding/json decodes it, and answers in OpenAI's error shape.
func TestHostileChatBodiesRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBody = 32 << 20 })
	rep := func(elem string, n int) string { return strings.TrimSuffix(strings.Repeat(elem+",", n), ",") }
	for name, body := range map[string]string{
		"empty messages":  `{"model":"gpt-4o","messages":[` + rep(`{}`, 3<<20) + `]}`,
		"empty parts":     `{"model":"gpt-4o","messages":[{"role":"user","content":[` + rep(`{}`, 3<<20) + `]}]}`,
		"deep nesting":    `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x":` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + `}`,
		"duplicate model": `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"mod\u0065l":"gpt-4o"}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, _, resp := e.post("/v1/chat/completions", body, "Authorization", "Bearer "+keyA)
			if status != 400 || !strings.Contains(resp, `"type":"invalid_request_error"`) || strings.Contains(resp, `"type":"error"`) {
				t.Fatalf("got %d %s, want 400 in OpenAI's shape", status, resp)
			}
		})
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("%d hostile requests reached the upstream", n)
	}
}

// TestReadGrowingLyingLength: a Content-Length smaller or larger than the
// body changes only how the buffer grows, never what is read.
func TestReadGrowingLyingLength(t *testing.T) {
	for _, n := range []int{0, 10, 4000, firstRead + 5} {
		body := bytes.Repeat([]byte("y"), n)
		for _, declared := range []int64{0, 1, int64(n / 2), int64(n) + 100, firstRead - 1} {
			got, err := readGrowing(bytes.NewReader(body), declared, nil)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("n=%d declared=%d: %d bytes, %v", n, declared, len(got), err)
			}
		}
	}
}
