package knowledge

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/internal/llmtest"
	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	keyA      = "sk-ant-api03-knowledge-key-a"
	keyB      = "sk-ant-api03-knowledge-key-b"
	secretKey = "0123456789abcdef0123456789abcdef"
	nsA       = "nsa0123456789abcdef"
	nsB       = "nsb0123456789abcdef"
	projA     = "p00000000000000aa"
)

var t0 = time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)

// env is a curator on miniredis (or LORE_TEST_REDIS_ADDR) and the fake
// upstream, with a recording batch queue so tests deliver calls themselves.
type env struct {
	up  *fakeupstream.Server
	raw *redis.Client
	pfx string
	st  *store.Store
	w   *llm.Worker
	q   *llmtest.Queue
	c   *Curator
	n   map[string]int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	up := fakeupstream.New(fakeupstream.Options{APIKeys: []string{keyA, keyB}})
	t.Cleanup(up.Close)
	cfg, raw := storetest.Config(t, "kn")
	st := storetest.Open(t, cfg)
	keys, err := auth.NewKeyring(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL())
	w := llm.New(llm.Config{Upstream: u, Keys: keys, Blobs: st})
	t.Cleanup(w.Close)
	q := &llmtest.Queue{}
	w.SetQueue(q)
	e := &env{up: up, raw: raw, pfx: cfg.KeyPrefix, st: st, w: w, q: q, n: map[string]int{}}
	e.c = New(Config{Store: st, Worker: w, Now: func() time.Time { return t0 }})
	// Sessions carry sealed credentials as the handler stores them.
	for sid, k := range map[string]string{"SA": keyA, "SA2": keyA, "SB": keyB} {
		blob, err := keys.Seal(auth.Credential{Scheme: auth.SchemeAPIKey, Value: k}, sid)
		if err != nil {
			t.Fatal(err)
		}
		ns := nsA
		if k == keyB {
			ns = nsB
		}
		sess := &store.Session{ID: sid, Namespace: ns, Project: projA}
		if err := st.CommitTurn(context.Background(), store.Turn{Session: sess, Credential: blob}); err != nil {
			t.Fatal(err)
		}
		// That was the credential, not a turn.
		raw.HSet(context.Background(), cfg.KeyPrefix+"s:{"+sid+"}:state", "turns_since_curation", 0)
	}
	return e
}

// turn stores one turn of session sid: a user message with text and an
// assistant reply, as CommitTurn does (turns_since_curation + 1).
func (e *env) turn(t *testing.T, sid, text string) {
	t.Helper()
	ns := nsA
	if sid == "SB" {
		ns = nsB
	}
	pos := e.n[sid]
	user, _ := json.Marshal(text)
	reply, _ := json.Marshal([]map[string]string{{"type": "text", "text": "ok " + strconv.Itoa(pos)}})
	msgs := []store.StoredMessage{
		{ID: "u" + strconv.Itoa(pos), Role: "user", Position: pos, Content: user},
		{ID: "a" + strconv.Itoa(pos), Role: "assistant", Position: pos + 1, Content: reply},
	}
	e.n[sid] = pos + 2
	sess := &store.Session{ID: sid, Namespace: ns, Project: projA, Stored: pos + 2, Turns: pos/2 + 1}
	if err := e.st.CommitTurn(context.Background(), store.Turn{Session: sess, Messages: msgs}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) session(t *testing.T, sid string) *store.Session {
	t.Helper()
	s, err := e.st.LoadSession(context.Background(), sid)
	if err != nil || s == nil {
		t.Fatalf("session %s: %v %v", sid, s, err)
	}
	return s
}

// drain delivers every queued call as the batch queue would.
func (e *env) drain(t *testing.T) int {
	t.Helper()
	n := 0
	for {
		calls, creds := e.q.Take()
		if len(calls) == 0 {
			return n
		}
		for i, c := range calls {
			ctx := context.Background()
			text, err := e.w.Do(ctx, c, creds[i])
			if err != nil {
				e.w.Fail(ctx, c, err)
			} else if err := e.w.Apply(ctx, c, text); err != nil {
				t.Logf("apply: %v", err)
			}
			n++
		}
	}
}

func (e *env) entries(t *testing.T, ns, project string) []Entry {
	t.Helper()
	out, err := Entries(context.Background(), e.st, ns, project)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) guarded(sid string) bool {
	return e.raw.Exists(context.Background(), e.pfx+"s:{"+sid+"}:kn:guard").Val() == 1
}
