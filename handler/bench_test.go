package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/store"
)

// benchConversation renders a Claude-Code-shaped conversation: a prompt, then
// tool calls whose results are real source text (~2 KB each, varied so
// nothing dedups). Messages are rendered once and kept, so a body of any
// length can be assembled.
type benchConversation struct {
	id     int
	src    []byte
	msgs   []string
	prefix []byte // msgs joined with commas, up to ...
	joined []int  // ... joined[i]: end of message i in prefix
}

func newBenchConversation(id int) *benchConversation {
	src, err := os.ReadFile("turn.go")
	if err != nil {
		panic(err)
	}
	return &benchConversation{id: id, src: src}
}

func (c *benchConversation) message(i int) string {
	for len(c.msgs) <= i {
		j := len(c.msgs)
		var m string
		switch {
		case j == 0:
			m = fmt.Sprintf(`{"role":"user","content":"Fix the failing tests in the repo (conversation %d)."}`, c.id)
		case j%2 == 1:
			m = fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Reading file %d."},{"type":"tool_use","id":"toolu_%06d","name":"Read","input":{"file_path":"/repo/f%d.go"}}]}`, j, j, j)
		default:
			off := (j * 131) % (len(c.src) - 2048)
			out, _ := json.Marshal(fmt.Sprintf("// file %d\n", j) + string(c.src[off:off+2048]))
			m = fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%06d","content":%s}]}`, j-1, out)
		}
		c.msgs = append(c.msgs, m)
	}
	return c.msgs[i]
}

var benchSystem, _ = json.Marshal("You are Claude Code. " + strings.Repeat("Follow the project's conventions. ", 300))

// benchHead is every field of the bench requests before the messages.
var benchHead = `{"model":"claude-sonnet-4-5","max_tokens":32000,"system":` + string(benchSystem) +
	`,"tools":[{"name":"Read","input_schema":{"type":"object"}},{"name":"Bash","input_schema":{"type":"object"}},{"name":"Edit","input_schema":{"type":"object"}}],"messages":[`

// body is the request of a turn that sends the first count messages. As
// Claude Code does, the newest message carries the cache breakpoint, so the
// previous turn's last message changes (loses its marker) on the next turn.
func (c *benchConversation) body(count int) []byte {
	for len(c.joined) < count-1 { // messages before the last, comma-separated
		if len(c.joined) > 0 {
			c.prefix = append(c.prefix, ',')
		}
		c.prefix = append(c.prefix, c.message(len(c.joined))...)
		c.joined = append(c.joined, len(c.prefix))
	}
	prefix := c.prefix[:0]
	if count > 1 {
		prefix = c.prefix[:c.joined[count-2]]
	}
	last := c.message(count - 1)
	if strings.HasSuffix(last, "}]}") {
		last = last[:len(last)-3] + `,"cache_control":{"type":"ephemeral"}}]}`
	}
	out := make([]byte, 0, len(benchHead)+len(prefix)+len(last)+8)
	out = append(append(out, benchHead...), prefix...)
	if count > 1 {
		out = append(out, ',')
	}
	return append(append(out, last...), "]}"...)
}

// benchTurns walks conversations the way a client does: every turn resends
// the previous turn's messages plus the assistant's tool call and its
// result. To stay near n messages it starts a new conversation (a new
// lineage) after growing from n−w to n+w; that conversation's first turn
// creates its session and is not timed.
type benchTurns struct {
	n, w  int
	conv  *benchConversation
	count int
}

func newBenchTurns(n int) *benchTurns { return &benchTurns{n: n, w: max(n/10, 10)} }

// next returns the next turn's body and whether it starts a conversation.
func (t *benchTurns) next() ([]byte, bool) {
	if t.conv == nil || t.count+2 > t.n+t.w {
		id := 0
		if t.conv != nil {
			id = t.conv.id + 1
		}
		t.conv = newBenchConversation(id)
		t.count = (t.n-t.w)/2*2 + 1 // odd: ends on a tool result
		return t.conv.body(t.count), true
	}
	t.count += 2
	return t.conv.body(t.count), false
}

// stubUpstream answers every Messages call at once with a fixed reply, so the
// benchmark measures the gateway, not a model.
func stubUpstream(b *testing.B) *httptest.Server {
	reply := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":90000,"output_tokens":2}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reply)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchStore(b *testing.B) *store.Store {
	addr := os.Getenv("LORE_TEST_REDIS_ADDR") // a real redis-server gives real round trips
	if addr == "" {
		addr = miniredis.RunT(b).Addr()
	}
	st, err := store.Open(store.Config{Addresses: []string{addr}, KeyPrefix: fmt.Sprintf("bench%d:", time.Now().UnixNano())}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// BenchmarkTurn is one steady-state conversation turn through the handler:
// parse, decode, session lookup, gradient, encode, forward, relay, and the
// deferred Redis commit (waited for, so it is counted). Every timed turn is
// the next turn of a growing conversation (see benchTurns), so whatever the
// handler reuses from the previous turn is measured as a client would see
// it. Direct sends the same sequence of bodies straight to the stub: the
// difference is what the gateway adds.
func BenchmarkTurn(b *testing.B) {
	up := stubUpstream(b)
	u, _ := url.Parse(up.URL)
	keys, _ := auth.NewKeyring(secret)
	for _, n := range []int{100, 1000, 5000} {
		size := len(newBenchConversation(0).body(n + 1))
		// cold turns decode every message as if each were the
		// conversation's first turn on this instance.
		for _, mode := range []struct {
			name  string
			cache int64
		}{{"gateway", 0}, {"gateway-cold", -1}} {
			h := New(Config{Upstream: u, OpenAIUpstream: u, MaxBody: 64 << 20, Retention: time.Hour,
				Store: benchStore(b), Keys: keys, Logger: zap.NewNop(), DecodeCacheBytes: mode.cache})
			gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.ServeHTTP(w, r, nextHandler{http.NotFoundHandler()})
				h.commits.Wait()
			})
			serve := func(b *testing.B, body []byte) {
				req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
				req.Header.Set("x-api-key", keyA)
				rec := httptest.NewRecorder()
				gateway.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
			b.Run(fmt.Sprintf("%s/messages=%d/bytes=%d", mode.name, n, size), func(b *testing.B) {
				turns := newBenchTurns(n)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var p50 median
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					body, first := turns.next()
					if first {
						serve(b, body) // creates the session
						body, _ = turns.next()
					}
					b.StartTimer()
					start := time.Now()
					serve(b, body)
					p50.add(time.Since(start))
				}
				p50.report(b)
			})
			h.Close()
		}
		b.Run(fmt.Sprintf("direct/messages=%d", n), func(b *testing.B) {
			turns := newBenchTurns(n)
			b.SetBytes(int64(size))
			var p50 median
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				body, _ := turns.next()
				b.StartTimer()
				start := time.Now()
				resp, err := http.Post(up.URL+"/v1/messages", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				p50.add(time.Since(start))
			}
			p50.report(b)
		})
	}
}

// median collects per-turn times: the targets are medians (docs/benchmarks.md,
// Targets), and ns/op is a mean that one slow GC cycle can move.
type median []time.Duration

func (m *median) add(d time.Duration) { *m = append(*m, d) }

func (m median) report(b *testing.B) {
	if len(m) == 0 {
		return
	}
	slices.Sort(m)
	b.ReportMetric(float64(m[len(m)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkNewSessionStream is bench/bench.sh's stream case in one process:
// bench/stream.json with a fresh client session id each time (a new
// session: its hash, messages, credential and indexes are all written),
// streamed, through the handler and its commit, waited for. The upstream is
// a stub replaying the fake upstream's own SSE answer to that body, so
// allocs/op is the gateway's (docs/benchmarks.md: what a turn allocates is
// most of the gap to reverse_proxy at concurrency 64).
func BenchmarkNewSessionStream(b *testing.B) {
	body, err := os.ReadFile("../bench/stream.json")
	if err != nil {
		b.Fatal(err)
	}
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{keyA}})
	b.Cleanup(fake.Close)
	req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/v1/messages", bytes.NewReader(bytes.Replace(body, []byte("@@SID@@"), []byte("recorded"), 1)))
	req.Header.Set("x-api-key", keyA)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	keys, _ := auth.NewKeyring(secret)
	h := New(Config{Upstream: u, OpenAIUpstream: u, MaxBody: 64 << 20, Retention: time.Hour,
		Store: benchStore(b), Keys: keys, Logger: zap.NewNop()})
	b.Cleanup(h.Close)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sid := fmt.Sprintf("bench-%d", i)
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(bytes.Replace(body, []byte("@@SID@@"), []byte(sid), 1)))
		req.Header.Set("x-api-key", keyA)
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set("x-lore-session-id", sid)
		rec := httptest.NewRecorder()
		_ = h.ServeHTTP(rec, req, nextHandler{http.NotFoundHandler()})
		h.commits.Wait()
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
