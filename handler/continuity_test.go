package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/msg"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
)

const ccHeader = "X-Claude-Code-Session-Id"

// rowsRecorder records whose distillations each turn's plan read.
type rowsRecorder struct {
	syncDistiller
	mu   sync.Mutex
	read []string
}

func (r *rowsRecorder) Rows(ctx context.Context, sid string) ([]gradient.Distillation, error) {
	r.mu.Lock()
	r.read = append(r.read, sid)
	r.mu.Unlock()
	return r.syncDistiller.Rows(ctx, sid)
}

// since returns the sessions whose rows were read after the first n reads.
func (r *rowsRecorder) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.read[n:]...)
}

func (r *rowsRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.read)
}

func (r *rowsRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.read) == 0 {
		return ""
	}
	return r.read[len(r.read)-1]
}

func recordRows(e *env) *rowsRecorder {
	withDistiller(e)
	r := &rowsRecorder{syncDistiller: e.h.cfg.Distiller.(syncDistiller)}
	e.h.cfg.Distiller = r
	return r
}

// distilledSession runs a 16-turn session under keyA with a client session
// id until it has distillation rows, and returns its id and row count.
func distilledSession(t *testing.T, e *env, first string) (string, int) {
	t.Helper()
	for turns := 1; turns <= 16; turns++ {
		e.post("/v1/messages", conversation(first, turns, ""), "x-api-key", keyA, ccHeader, "cc-refresh")
	}
	ids := e.sessionIDs()
	if len(ids) != 1 {
		t.Fatalf("sessions %v", ids)
	}
	d := distill.New(distill.Config{Store: e.store, Worker: llm.New(llm.Config{})})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if rows, _ := d.Rows(t.Context(), ids[0]); len(rows) > 0 {
			return ids[0], len(rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no distillation rows")
	return "", 0
}

func otherSession(e *env, known ...string) *store.Session {
	for _, id := range e.sessionIDs() {
		if !containsString(known, id) {
			s, _ := e.store.LoadSession(context.Background(), id)
			return s
		}
	}
	return nil
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Continuity by proof of history (docs/sessions-and-identity.md): a refreshed
// token whose request carries the whole stored history continues the session's
// context in its own namespace; the credential, knowledge block, pending
// recall and costs stay behind.
func TestContinuityByProofOfHistory(t *testing.T) {
	e := newEnv(t)
	rec := recordRows(e)
	first, rows := distilledSession(t, e, "refresh my token")
	before, _ := e.store.LoadSession(context.Background(), first)
	if err := e.store.CommitTurn(context.Background(), store.Turn{Session: &store.Session{ID: first, Namespace: before.Namespace,
		Lineage: before.Lineage, Origin: before.Origin, Model: before.Model, Stored: before.Stored, MessageCount: before.MessageCount,
		Turns: before.Turns, Gradient: before.Gradient, LastRequest: before.LastRequest, CostMicroUSD: before.CostMicroUSD,
		CounterfactualMicroUSD: before.CounterfactualMicroUSD, Usage: before.Usage,
		RecallPending: "old recall results", Knowledge: "old knowledge", KnowledgeChosen: true, KnowledgeChanged: true}}); err != nil {
		t.Fatal(err)
	}
	before, _ = e.store.LoadSession(context.Background(), first)

	// The token was refreshed: the same client session, the whole history.
	status, _, _ := e.post("/v1/messages", conversation("refresh my token", 17, ""), "Authorization", "Bearer "+oauthT,
		"anthropic-beta", "oauth-2025-04-20", ccHeader, "cc-refresh")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := rec.last(); got != first {
		t.Fatalf("the continued turn's plan read the distillations of %q, not the original's", got)
	}
	next := otherSession(e, first)
	if next == nil {
		t.Fatal("no session under the new credential")
	}
	if next.Namespace == before.Namespace || next.Turns != before.Turns+1 || next.Stored != 34 {
		t.Fatalf("continued session: ns equal %v, turns %d (before %d), stored %d", next.Namespace == before.Namespace, next.Turns, before.Turns, next.Stored)
	}
	d := distill.New(distill.Config{Store: e.store, Worker: llm.New(llm.Config{})})
	got, _ := d.Rows(t.Context(), next.ID)
	if len(got) < rows {
		t.Fatalf("continued session has %d distillation rows, the original %d", len(got), rows)
	}
	if msgs := e.messages(next.ID); len(msgs) != 34 {
		t.Fatalf("continued session has %d stored messages", len(msgs))
	}
	if len(next.Gradient) == 0 {
		t.Fatal("gradient state not carried over")
	}
	if next.Knowledge == "old knowledge" || next.RecallPending == "old recall results" ||
		next.CostMicroUSD >= before.CostMicroUSD || next.CounterfactualMicroUSD >= before.CounterfactualMicroUSD {
		t.Fatal("knowledge block, pending recall or costs carried over")
	}
	total := func(u pricing.Usage) int64 {
		return u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens + u.OutputTokens
	}
	if total(next.Usage) >= total(before.Usage) {
		t.Fatalf("usage totals carried over: %d >= %d", total(next.Usage), total(before.Usage))
	}
	blob, _ := e.store.CredentialBlob(context.Background(), next.ID)
	if cred, err := e.keys.Open(blob, next.ID); err != nil || cred.Value != oauthT {
		t.Fatalf("the new session's credential: %v", err)
	}
	oldBlob, _ := e.store.CredentialBlob(context.Background(), first)
	if cred, err := e.keys.Open(oldBlob, first); err != nil || cred.Value != keyA {
		t.Fatal("the original session's credential changed")
	}
}

// The same client session id and first message with a different history
// continues nothing: somebody who copied the id (or the first message) gets a
// fresh session, and nothing of the first person's reaches their upstream
// request.
func TestContinuityNeedsTheWholeHistory(t *testing.T) {
	for name, body := range map[string]string{
		"one message differs": strings.Replace(conversation("private plans", 17, ""), "user message 7", "user message seven", 1),
		"a prefix only":       conversation("private plans", 5, ""),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rec := recordRows(e)
			first, _ := distilledSession(t, e, "private plans")
			before := rec.count()
			e.post("/v1/messages", body, "x-api-key", keyB, ccHeader, "cc-refresh")
			next := otherSession(e, first)
			if next == nil || next.Turns != 1 || next.ContinuedFrom != "" {
				t.Fatalf("another history continued the session: %+v", next)
			}
			// A new session has no distillations to read; whatever is read
			// during its turn is its own, never the first person's.
			for _, sid := range rec.since(before) {
				if sid != next.ID {
					t.Fatalf("the other caller's turn read the distillations of %q", sid)
				}
			}
			d := distill.New(distill.Config{Store: e.store, Worker: llm.New(llm.Config{})})
			orig, _ := d.Rows(t.Context(), first)
			mine, _ := d.Rows(t.Context(), next.ID)
			for _, a := range orig {
				for _, b := range mine {
					if a.ID == b.ID {
						t.Fatal("the original's distillation rows were copied")
					}
				}
			}
		})
	}
}

// The proof is the same content at the same positions: byte for byte, or
// the same JSON value (the gateway's own encoding of a streamed reply;
// Claude Code's newest message sent as blocks, later as a string).
func TestProves(t *testing.T) {
	m := func(role string, pos int, content string) msg.Message {
		return msg.Message{Role: role, Content: json.RawMessage(content), ID: msg.ComputeID(role, pos, []byte(content))}
	}
	s := func(role string, pos int, content string) store.StoredMessage {
		return store.StoredMessage{Role: role, Position: pos, Content: json.RawMessage(content), ID: msg.ComputeID(role, pos, []byte(content))}
	}
	user := `[{"type":"text","text":"hello"}]`
	stored := []store.StoredMessage{s("user", 0, user), s("assistant", 1, `[{"text":"ok (turn 1)","type":"text"}]`)}
	for name, tc := range map[string]struct {
		sent []msg.Message
		want bool
	}{
		"client's encoding of the reply": {[]msg.Message{m("user", 0, user), m("assistant", 1, `[{"type":"text","text":"ok (turn 1)"}]`), m("user", 2, `"next"`)}, true},
		"cache marker moved":             {[]msg.Message{m("user", 0, `[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]`), m("assistant", 1, `[{"type":"text","text":"ok (turn 1)"}]`), m("user", 2, `"next"`)}, true},
		"user text as a string":          {[]msg.Message{m("user", 0, `"hello"`), m("assistant", 1, `[{"type":"text","text":"ok (turn 1)"}]`), m("user", 2, `"next"`)}, true},
		"user text differs":              {[]msg.Message{m("user", 0, `"hello!"`), m("assistant", 1, `[{"type":"text","text":"ok (turn 1)"}]`), m("user", 2, `"next"`)}, false},
		"user block added":               {[]msg.Message{m("user", 0, `[{"type":"text","text":"hello"},{"type":"text","text":"x"}]`), m("assistant", 1, `[{"type":"text","text":"ok (turn 1)"}]`)}, false},
		"reply text differs":             {[]msg.Message{m("user", 0, user), m("assistant", 1, `[{"type":"text","text":"ok (turn 2)"}]`), m("user", 2, `"next"`)}, false},
		"reply missing":                  {[]msg.Message{m("user", 0, user)}, false},
		"role differs":                   {[]msg.Message{m("user", 0, user), m("user", 1, `[{"type":"text","text":"ok (turn 1)"}]`)}, false},
	} {
		if got := proves(stored, tc.sent); got != tc.want {
			t.Errorf("%s: proves = %v", name, got)
		}
	}
	if proves(nil, []msg.Message{m("user", 0, user)}) {
		t.Error("an empty history proves nothing")
	}
}

// BenchmarkProof measures the proof of a 1,000-message history (~1 MB) at
// its worst: every stored message in another encoding than the request's,
// so each is compared as a JSON value.
func BenchmarkProof(b *testing.B) {
	const n = 1000
	stored := make([]store.StoredMessage, n)
	sent := make([]msg.Message, n)
	for i := range n {
		role := []string{"user", "assistant"}[i%2]
		text := strings.Repeat(fmt.Sprintf("message %d says something about the parser. ", i), 25)
		t, _ := json.Marshal(text)
		a := []byte(`[{"text":` + string(t) + `,"type":"text"}]`) // the gateway's encoding
		c := []byte(`[{"type":"text","text":` + string(t) + `}]`) // the client's
		stored[i] = store.StoredMessage{Role: role, Position: i, Content: a, ID: msg.ComputeID(role, i, a)}
		sent[i] = msg.Message{Role: role, Content: c, ID: msg.ComputeID(role, i, c)}
	}
	b.ResetTimer()
	for range b.N {
		if !proves(stored, sent) {
			b.Fatal("no proof")
		}
	}
}

// A compaction request is the first request under the new token: the
// continued session has no copy of its history yet, so the request goes
// upstream with the caller's credential rather than being answered from an
// empty session (or billed to anybody else).
func TestContinuityCompactionForwarded(t *testing.T) {
	e := newEnv(t)
	withDistiller(e)
	distilledSession(t, e, "compact after refresh")
	// With an operator's worker_credential, an empty continued session
	// would be summarised on the operator's key.
	up, _ := url.Parse(e.fake.URL())
	w := llm.New(llm.Config{Upstream: up, Keys: e.keys, Blobs: e.store, Logger: e.h.log,
		Service: auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyB}})
	t.Cleanup(w.Close)
	e.h.cfg.Distiller = syncDistiller{distill.New(distill.Config{Store: e.store, Worker: w})}
	e.fake.Reset()
	body := strings.Replace(conversation("compact after refresh", 17, ""), "user message 16",
		"Please create an anchored summary from the conversation history above.", 1)
	body = strings.Replace(body, `"tools":[{"name":"bash","input_schema":{"type":"object"}},{"name":"read","input_schema":{"type":"object"}},{"name":"edit","input_schema":{"type":"object"}}],`, "", 1)
	status, _, resp := e.post("/v1/messages", body, "Authorization", "Bearer "+oauthT, "anthropic-beta", "oauth-2025-04-20", ccHeader, "cc-refresh")
	if status != 200 || strings.Contains(resp, "msg_lore_compact_") {
		t.Fatalf("%d %s", status, resp)
	}
	for _, r := range e.fake.Requests() {
		if r.Header.Get("Authorization") != "Bearer "+oauthT {
			t.Fatalf("a request of the compaction went upstream with another credential: %v", r.Header)
		}
	}
	if n := len(e.sessionIDs()); n != 1 {
		t.Fatalf("the compaction stored a session: %d", n)
	}
}
