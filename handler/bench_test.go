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
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/store"
)

// benchSession is a Claude-Code-shaped request with n messages: tool calls
// whose results are real source text (~2 KB each, varied so nothing dedups).
func benchSession(n int) []byte {
	src, err := os.ReadFile("turn.go")
	if err != nil {
		panic(err)
	}
	var msgs []string
	for i := 0; i < n; i++ {
		switch {
		case i == 0:
			msgs = append(msgs, `{"role":"user","content":"Fix the failing tests in the repo."}`)
		case i%2 == 1:
			msgs = append(msgs, fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Reading file %d."},{"type":"tool_use","id":"toolu_%06d","name":"Read","input":{"file_path":"/repo/f%d.go"}}]}`, i, i, i))
		default:
			off := (i * 131) % (len(src) - 2048)
			out, _ := json.Marshal(fmt.Sprintf("// file %d\n", i) + string(src[off:off+2048]))
			msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%06d","content":%s}]}`, i-1, out))
		}
	}
	if n%2 == 0 { // end on a user message
		msgs = append(msgs, `{"role":"user","content":"continue"}`)
	}
	sys, _ := json.Marshal("You are Claude Code. " + strings.Repeat("Follow the project's conventions. ", 300))
	return []byte(fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":32000,"system":%s,"tools":[{"name":"Read","input_schema":{"type":"object"}},{"name":"Bash","input_schema":{"type":"object"}},{"name":"Edit","input_schema":{"type":"object"}}],"messages":[%s]}`, sys, strings.Join(msgs, ",")))
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
// deferred Redis commit (waited for, so it is counted). Direct is the same
// request straight to the stub: the difference is what the gateway adds.
func BenchmarkTurn(b *testing.B) {
	up := stubUpstream(b)
	u, _ := url.Parse(up.URL)
	keys, _ := auth.NewKeyring(secret)
	for _, n := range []int{100, 1000, 5000} {
		body := benchSession(n)
		h := New(Config{Upstream: u, OpenAIUpstream: u, MaxBody: 64 << 20, Retention: time.Hour,
			Store: benchStore(b), Keys: keys, Logger: zap.NewNop()})
		serve := func(target string, handler http.Handler) {
			req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
			req.Header.Set("x-api-key", keyA)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
		gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = h.ServeHTTP(w, r, nextHandler{http.NotFoundHandler()})
			h.bgWG.Wait()
		})
		serve("/v1/messages", gateway) // first turn creates the session
		b.Run(fmt.Sprintf("gateway/messages=%d/bytes=%d", n, len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				serve("/v1/messages", gateway)
			}
		})
		b.Run(fmt.Sprintf("direct/messages=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := http.Post(up.URL+"/v1/messages", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		h.Close()
	}
}
