package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/internal/hostiletest"
)

// hostileShapes are the hostile bodies of about size bytes, by shape.
func hostileShapes(size int) map[string]struct{ path, body string } {
	out := map[string]struct{ path, body string }{}
	for _, shape := range hostiletest.Shapes {
		path, body := hostiletest.Body(shape, size)
		out[shape] = struct{ path, body string }{path, string(body)}
	}
	return out
}

// countingReader counts the bytes a read took from the client.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += k
	return k, err
}

// TestHostileBodiesRefusedEarly: a hostile body of 32 MiB is answered 400,
// with a Content-Length and without (chunked), having been buffered no
// further than its first refuseCheck bytes: the rest is read and dropped,
// so the client sees the answer as after a whole read.
func TestHostileBodiesRefusedEarly(t *testing.T) {
	h := New(Config{MaxBody: 32 << 20})
	defer h.Close()
	for name, s := range hostileShapes(32<<20 - 1024) {
		for _, declared := range []bool{true, false} {
			src := &countingReader{r: strings.NewReader(s.body)}
			r := httptest.NewRequest(http.MethodPost, s.path, src)
			r.ContentLength = -1
			if declared {
				r.ContentLength = int64(len(s.body))
			}
			w := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_ = h.ServeHTTP(w, r, nextHandler{http.NotFoundHandler()})
			runtime.ReadMemStats(&after)
			if w.Code != 400 || !strings.Contains(w.Body.String(), "invalid_request_error") {
				t.Fatalf("%s (declared %v): %d %.200s", name, declared, w.Code, w.Body)
			}
			if src.n != len(s.body) {
				t.Errorf("%s (declared %v): %d of %d bytes read: the rest was not drained", name, declared, src.n, len(s.body))
			}
			// A whole read allocates the body's 32 MiB and then its decode;
			// judging the first 4 MiB costs their buffers and decode (up
			// to the bound, with its slices' growth): about 23 MiB for
			// empty messages, the costliest shape.
			if got := after.TotalAlloc - before.TotalAlloc; got >= 32<<20 {
				t.Errorf("%s (declared %v): %d bytes allocated, want the prefix's cost, not the body's", name, declared, got)
			}
		}
	}
}

// TestLargeRealBodyPassesTheCheck: a real conversation over refuseCheck is
// read whole and answered.
func TestLargeRealBodyPassesTheCheck(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBody = 32 << 20 })
	body := toolLoop("large real body", 6<<20)
	if len(body) <= refuseCheck {
		t.Fatalf("body of %d bytes is not over the check", len(body))
	}
	status, _, resp := e.post("/v1/messages", body, "x-api-key", keyA)
	if status != 200 {
		t.Fatalf("status %d: %.300s", status, resp)
	}
}

// TestPrefixVerdictIsFinal: wherever a body is cut, a refusal of its
// beginning is a refusal of the whole, and a body the route accepts is
// never refused from any beginning.
func TestPrefixVerdictIsFinal(t *testing.T) {
	bodies := map[string]struct{ path, body string }{}
	for name, s := range hostileShapes(6 << 20) { // past the decode bound's slack
		bodies[name] = s
	}
	bodies["real"] = struct{ path, body string }{"/v1/messages", toolLoop("prefix verdict", 6<<20)}
	bodies["duplicate before deep"] = struct{ path, body string }{"/v1/messages",
		`{"model":"a","model":"b","x":` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + `,"messages":[]}`}
	bodies["chat real"] = struct{ path, body string }{"/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("hi ", 5000) + `"}]}`}
	for name, s := range bodies {
		b := []byte(s.body)
		whole := wholeVerdict(s.path, b)
		refused := false
		for _, cut := range cuts(len(b)) {
			err := prefixVerdict(s.path, b[:cut], len(b))
			if err != nil && whole == nil {
				t.Fatalf("%s: its first %d bytes are refused (%v), the whole body is not", name, cut, err)
			}
			// The Messages route names the reason the whole parse names.
			if err != nil && s.path == "/v1/messages" && err.Error() != whole.Error() {
				t.Fatalf("%s: its first %d bytes are refused with %q, the whole body with %q", name, cut, err, whole)
			}
			refused = refused || err != nil
		}
		if hostile := !strings.Contains(name, "real"); hostile && !refused {
			t.Errorf("%s: refused from none of its beginnings", name)
		}
	}
}

// FuzzPrefixVerdictIsFinal: any beginning the Messages or chat route
// refuses, it refuses however it continues.
func FuzzPrefixVerdictIsFinal(f *testing.F) {
	for _, s := range hostileShapes(4096) {
		f.Add(s.path == "/v1/messages", []byte(s.body[:2048]), []byte(s.body[2048:]))
	}
	f.Add(true, []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}`), []byte(`]}`))
	f.Fuzz(func(t *testing.T, messages bool, prefix, rest []byte) {
		path := "/v1/chat/completions"
		if messages {
			path = "/v1/messages"
		}
		whole := append(append([]byte{}, prefix...), rest...)
		if err := prefixVerdict(path, prefix, len(whole)); err != nil && wholeVerdict(path, whole) == nil {
			t.Fatalf("%s: %q refused (%v), but %q is not", path, prefix, err, whole)
		}
	})
}

func prefixVerdict(path string, prefix []byte, size int) error {
	if path == "/v1/messages" {
		return refusedMessagesPrefix(prefix, size)
	}
	return translate.RefusedOpenAIPrefix(prefix, size)
}

// wholeVerdict is the route's refusal of a whole body (nil: accepted).
func wholeVerdict(path string, body []byte) error {
	if path == "/v1/messages" {
		_, _, _, err := (&Handler{}).parseMessages(body, auth.Credential{})
		return err
	}
	_, err := translate.ParseOpenAIRequest(body)
	return err
}

// cuts are lengths to cut an n-byte body at: every byte of its first 128,
// then 24 spread up to n.
func cuts(n int) []int {
	var out []int
	for k := 0; k < min(n, 128); k++ {
		out = append(out, k)
	}
	for i := 1; i <= 24; i++ {
		out = append(out, n*i/24-i%7) // off the round numbers
	}
	return out
}

// toolLoop is a Claude-Code-shaped Messages body of at least size bytes:
// tool calls with 20 KB outputs.
func toolLoop(first string, size int) string {
	out, _ := json.Marshal(strings.Repeat("func main() { fmt.Println(\"hello\") }\n", 512))
	var b strings.Builder
	fmt.Fprintf(&b, `{"model":"claude-sonnet-4-5","max_tokens":1024,"tools":[{"name":"bash","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":%q}`, first)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `,{"role":"assistant","content":[{"type":"tool_use","id":"toolu_%d","name":"bash","input":{"command":"go run ."}}]}`, i)
		fmt.Fprintf(&b, `,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d","content":%s}]}`, i, out)
	}
	b.WriteString("]}")
	return b.String()
}

// TestBodyAtTheCheckIsReadOnce: a body of exactly refuseCheck bytes is read
// into one buffer of its size plus one, unjudged, like every shorter body;
// one byte more is judged once.
func TestBodyAtTheCheckIsReadOnce(t *testing.T) {
	for _, n := range []int{refuseCheck, refuseCheck + 1} {
		body := make([]byte, n)
		checked := 0
		got, err := readGrowing(bytes.NewReader(body), int64(n), func([]byte) error { checked++; return nil })
		if err != nil || len(got) != n {
			t.Fatalf("n=%d: %d bytes, %v", n, len(got), err)
		}
		want := 0
		if n > refuseCheck {
			want = 1
		}
		if checked != want {
			t.Errorf("n=%d: judged %d times, want %d", n, checked, want)
		}
		if n == refuseCheck && cap(got) != n+1 {
			t.Errorf("n=%d: cap %d, want %d", n, cap(got), n+1)
		}
	}
}
