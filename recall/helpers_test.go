package recall

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/internal/storetest"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

const (
	nsA  = "nsa0123456789abcdef"
	nsB  = "nsb0123456789abcdef"
	proj = "p00000000000000aa"
)

// newStore opens a store on miniredis, or on LORE_TEST_REDIS_ADDR under a
// fresh key prefix that is deleted afterwards.
func newStore(tb testing.TB) *store.Store {
	tb.Helper()
	cfg, _ := storetest.Config(tb, "recall")
	return storetest.Open(tb, cfg)
}

// rawContent is a message content: a string becomes a JSON string, anything
// else is marshalled as is (block lists).
func rawContent(tb testing.TB, c any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// addMessages appends messages to session sid of namespace ns, alternating
// user and assistant, with conversation positions from pos.
func addMessages(tb testing.TB, st *store.Store, sid, ns string, pos int, contents ...any) {
	tb.Helper()
	msgs := make([]store.StoredMessage, len(contents))
	for i, c := range contents {
		role := "user"
		if (pos+i)%2 == 1 {
			role = "assistant"
		}
		msgs[i] = store.StoredMessage{ID: fmt.Sprintf("m%d", pos+i), Role: role, Position: pos + i, Content: rawContent(tb, c)}
	}
	sess := &store.Session{ID: sid, Namespace: ns, Project: proj, Stored: pos + len(contents)}
	if err := st.CommitTurn(context.Background(), store.Turn{Session: sess, Messages: msgs}); err != nil {
		tb.Fatal(err)
	}
}

// addRows stores one gen-0 distillation per observation text, row i
// covering list entry i (the session needs that many messages for the
// rows to mean anything, but the store only needs the list to exist).
func addRows(tb testing.TB, st *store.Store, sid string, obs ...string) []string {
	tb.Helper()
	ctx := context.Background()
	mark, err := distill.DistilledUpTo(ctx, st, sid)
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, len(obs))
	for i, o := range obs {
		ids[i] = fmt.Sprintf("%s-r%d", sid, mark+i)
		row := distill.Row{ID: ids[i], Observations: o, First: mark + i, Last: mark + i, FirstPos: mark + i, LastPos: mark + i}
		if out, _, err := distill.StoreRow(ctx, st, sid, row); out != distill.RowStored || err != nil {
			tb.Fatalf("row %s: %v %v", ids[i], out, err)
		}
	}
	return ids
}

func putKnowledge(tb testing.TB, st *store.Store, ns, project string, entries ...knowledge.Entry) {
	tb.Helper()
	for i := range entries {
		entries[i].Project = project
	}
	if err := knowledge.Apply(context.Background(), st, ns, project, knowledge.Change{Put: entries}, time.Hour); err != nil {
		tb.Fatal(err)
	}
}

func kn(id, cat, title, body string, conf float64) knowledge.Entry {
	return knowledge.Entry{ID: id, Category: cat, Title: title, Content: body, Confidence: conf}
}

// keys lists the fused results' keys in order.
func keys(rs []result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.key
	}
	return out
}

// bullets returns the answer's result lines without their "- ".
func bullets(answer string) []string {
	var out []string
	for _, l := range strings.Split(answer, "\n") {
		if s, ok := strings.CutPrefix(l, "- "); ok {
			out = append(out, s)
		}
	}
	return out
}

func search(tb testing.TB, st *store.Store, q Query) string {
	tb.Helper()
	got, err := Search(context.Background(), st, q)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}
