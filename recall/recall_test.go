package recall

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

// fixture: session SA of namespace A with knowledge, distillations (one
// archived) and messages that match "zebra" to known degrees, plus the
// same words in another namespace (nsB, session SB) and in another
// session of the same namespace (SA2), which recall must never show.
func fixture(t *testing.T) *store.Store {
	t.Helper()
	st := newStore(t)
	putKnowledge(t, st, nsA, proj,
		kn("k1", "gotcha", "Zebra stripes", "never paint them", 0.9),
		kn("k2", "pattern", "Logging", "use zap", 1),
		kn("k3", "gotcha", "Zebra weak", "below the confidence floor", 0.2))
	putKnowledge(t, st, nsA, knowledge.GlobalProject, kn("g1", "preference", "Horses", "zebras are not horses", 1))
	putKnowledge(t, st, nsB, proj, kn("kb", "gotcha", "Zebra secretb", "zebra zebra secretb", 1))
	putKnowledge(t, st, nsB, knowledge.GlobalProject, kn("gb", "gotcha", "Zebra secretb global", "zebra", 1))

	// List indices 0..3, positions 10..13; all five tokens long, so the
	// BM25 order is the zebra count: 0 (3), 3 (2), 2 (1); 1 never.
	addMessages(t, st, "SA", nsA, 10,
		"zebra zebra zebra one two",
		[]map[string]any{{"type": "text", "text": "nothing here to see now"}},
		"zebra one two three four",
		[]map[string]any{{"type": "text", "text": "zebra zebra one two three"}})
	ids := addRows(t, st, "SA", "zebra zebra zebra alpha beta", "zebra alpha beta gamma delta", "nothing relevant here at all")
	// Archive the first row under a meta row: archived rows stay searchable.
	meta := distill.Row{ID: "SA-meta", Generation: 1, Observations: "older work summarised", First: 0, Last: 0}
	if ok, err := distill.ReplaceWithMeta(context.Background(), st, "SA", meta, ids[:1]); !ok || err != nil {
		t.Fatalf("meta: %v %v", ok, err)
	}
	for _, sid := range []string{"SB", "SA2"} {
		ns := nsA
		if sid == "SB" {
			ns = nsB
		}
		addMessages(t, st, sid, ns, 0, "zebra zebra zebra secretb", "zebra secretb")
		addRows(t, st, sid, "zebra zebra zebra secretb")
	}
	return st
}

var qA = Query{SessionID: "SA", Namespace: nsA, Project: proj, Text: "zebra?"}

func TestFusionArithmetic(t *testing.T) {
	st := fixture(t)
	rankings, err := collect(context.Background(), st, qA, []string{"zebra"})
	if err != nil {
		t.Fatal(err)
	}
	got := fuse(rankings, MaxResults)
	rrf := func(ranks ...int) float64 {
		s := 0.0
		for _, r := range ranks {
			s += 1 / float64(60+r)
		}
		return s
	}
	want := []struct {
		key   string
		score float64
	}{
		{"temporal:3", rrf(1, 0)}, // BM25 rank 1, newest
		{"temporal:0", rrf(0, 2)}, // BM25 rank 0, oldest of the hits
		{"temporal:2", rrf(2, 1)},
		{"knowledge:k1", rrf(0)}, // ties with distilled:SA-r0: knowledge first
		{"distilled:SA-r0", rrf(0)},
		{"knowledge:g1", rrf(1)}, // "zebras" matches zebra* in content only
		{"distilled:SA-r1", rrf(1)},
	}
	if len(got) != len(want) {
		t.Fatalf("results %v, want %d", keys(got), len(want))
	}
	for i, w := range want {
		if got[i].key != w.key || math.Abs(got[i].score-w.score) > 1e-15 {
			t.Fatalf("result %d = %s %.17f, want %s %.17f (all: %v)", i, got[i].key, got[i].score, w.key, w.score, keys(got))
		}
	}

	answer := search(t, st, qA)
	wantAnswer := "Recall results for: zebra?\n\n" +
		"- [temporal/assistant] (message 13) zebra zebra one two three\n" +
		"- [temporal/user] (message 10) zebra zebra zebra one two\n" +
		"- [temporal/user] (message 12) zebra one two three four\n" +
		"- [knowledge/gotcha] **Zebra stripes**: never paint them\n" +
		"- [distilled] zebra zebra zebra alpha beta\n" +
		"- [knowledge/preference] **Horses**: zebras are not horses\n" +
		"- [distilled] zebra alpha beta gamma delta"
	if answer != wantAnswer {
		t.Fatalf("answer\n%s\nwant\n%s", answer, wantAnswer)
	}
}

func TestFuseDeduplicates(t *testing.T) {
	a := item{key: "temporal:1", src: srcTemporal, idx: 1}
	b := item{key: "temporal:2", src: srcTemporal, idx: 2}
	c := item{key: "knowledge:x", src: srcKnowledge}
	got := fuse([][]item{{c}, {a, b}, {b, a}}, 2)
	// a and b tie on 1/60 + 1/61 and on best rank: the older list index
	// wins; c (1/60) is cut by the limit.
	if !slices.Equal(keys(got), []string{"temporal:1", "temporal:2"}) || got[0].score != 1.0/60+1.0/61 {
		t.Fatalf("fused %v %v", keys(got), got)
	}
	if got := fuse(nil, MaxResults); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestVagueQuery(t *testing.T) {
	for _, text := range []string{"", "   ", "the a of ??", "x y z — it's", "what is this"} {
		// No store: a vague query must not read anything.
		got, err := Search(context.Background(), nil, Query{SessionID: "SA", Namespace: nsA, Text: text})
		if err != nil || got != VagueAnswer {
			t.Fatalf("%q: %q %v", text, got, err)
		}
	}
	if VagueAnswer != "Query too vague — name a file, function, error or decision to search for." {
		t.Fatal("the vague answer is part of the tool's contract")
	}
}

func TestNoMatches(t *testing.T) {
	st := fixture(t)
	if got := search(t, st, Query{SessionID: "SA", Namespace: nsA, Project: proj, Text: "  giraffe\nneck "}); got != "No matches for: giraffe neck" {
		t.Fatalf("%q", got)
	}
	// A session with nothing stored, a namespace without knowledge.
	if got := search(t, st, Query{SessionID: "EMPTY", Namespace: "nsc0123456789abcdef", Text: "zebra"}); got != "No matches for: zebra" {
		t.Fatalf("%q", got)
	}
}

func TestScopes(t *testing.T) {
	st := fixture(t)
	prefixes := func(answer string) []string {
		var out []string
		for _, b := range bullets(answer) {
			p := b[1:strings.IndexAny(b, "/]")]
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	for scope, want := range map[string][]string{
		"":             {"distilled", "knowledge", "temporal"},
		ScopeAll:       {"distilled", "knowledge", "temporal"},
		"project":      {"distilled", "knowledge", "temporal"}, // unknown: all
		ScopeSession:   {"distilled", "temporal"},
		ScopeKnowledge: {"knowledge"},
	} {
		q := qA
		q.Scope = scope
		if got := prefixes(search(t, st, q)); !slices.Equal(got, want) {
			t.Fatalf("scope %q: sources %v, want %v", scope, got, want)
		}
	}
	// Without a project only cross-project knowledge; without a session
	// only knowledge; without a namespace no knowledge.
	q := Query{Namespace: nsA, Text: "zebra"}
	if got := bullets(search(t, st, q)); len(got) != 1 || !strings.Contains(got[0], "**Horses**") {
		t.Fatalf("no project, no session: %q", got)
	}
	q = Query{SessionID: "SA", Text: "zebra stripes"}
	if got := search(t, st, q); strings.Contains(got, "[knowledge/") || !strings.Contains(got, "[temporal/") {
		t.Fatalf("no namespace:\n%s", got)
	}
}

func TestIsolation(t *testing.T) {
	st := fixture(t)
	for _, scope := range []string{ScopeAll, ScopeSession, ScopeKnowledge} {
		q := qA
		q.Scope, q.Text = scope, "zebra secretb"
		got := search(t, st, q)
		if strings.Contains(strings.ToLower(strings.Join(bullets(got), "\n")), "secretb") {
			t.Fatalf("scope %s: another namespace or session leaked:\n%s", scope, got)
		}
		if strings.HasPrefix(got, "No matches") {
			t.Fatalf("scope %s: the session's own hits are missing", scope)
		}
	}
	// The low-confidence entry of the session's own namespace is skipped.
	if got := search(t, st, qA); strings.Contains(got, "Zebra weak") {
		t.Fatalf("entry at the confidence floor shown:\n%s", got)
	}
	// The other sessions do find their own data.
	if got := search(t, st, Query{SessionID: "SB", Namespace: nsB, Project: proj, Text: "secretb"}); len(bullets(got)) != 5 {
		t.Fatalf("SB must see its 2 entries, 2 messages and 1 row:\n%s", got)
	}
}

func TestPerSourceLimit(t *testing.T) {
	st := newStore(t)
	var entries []knowledge.Entry
	var msgs []any
	var obs []string
	for i := range 15 {
		entries = append(entries, kn(fmt.Sprintf("k%02d", i), "pattern", fmt.Sprintf("Okapi %d", i), "okapi", 1))
		msgs = append(msgs, fmt.Sprintf("okapi number %d", i))
		obs = append(obs, fmt.Sprintf("okapi row %d", i))
	}
	putKnowledge(t, st, nsA, proj, entries...)
	addMessages(t, st, "SA", nsA, 0, msgs...)
	addRows(t, st, "SA", obs...)
	q := Query{SessionID: "SA", Namespace: nsA, Project: proj, Text: "okapi"}
	rankings, err := collect(context.Background(), st, q, []string{"okapi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rankings) != 4 {
		t.Fatalf("%d rankings", len(rankings))
	}
	for i, r := range rankings {
		if len(r) != PerSourceLimit {
			t.Fatalf("ranking %d has %d hits, want %d", i, len(r), PerSourceLimit)
		}
	}
	if got := bullets(search(t, st, q)); len(got) != MaxResults {
		t.Fatalf("%d results, want %d", len(got), MaxResults)
	}
}

func TestPreview(t *testing.T) {
	st := newStore(t)
	// "zebra abc" is 9 bytes, then 2-byte runes: the cut at 500 bytes
	// falls inside a rune and must move back to 499.
	long := "zebra\n\n  abc" + strings.Repeat("é", 600)
	addMessages(t, st, "SA", nsA, 0, long, "zebra short\n\tmessage")
	addRows(t, st, "SA", strings.Repeat("zebra ", 100))
	body := strings.Repeat("zebra knowledge is kept whole. ", 40) // 1,240 bytes
	putKnowledge(t, st, nsA, proj, kn("k", "gotcha", "Zebra", body, 1))
	lines := bullets(search(t, st, Query{SessionID: "SA", Namespace: nsA, Project: proj, Text: "zebra"}))
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("no %q line in %q", prefix, lines)
		return ""
	}
	if got, want := find("[temporal/user] (message 0) "), "zebra abc"+strings.Repeat("é", 245)+"…"; got != want {
		t.Fatalf("preview %q (%d bytes), want %d bytes", got, len(got), len(want))
	}
	if got := find("[temporal/assistant] (message 1) "); got != "zebra short message" {
		t.Fatalf("short preview %q", got)
	}
	got := find("[distilled] ")
	if p, ok := strings.CutSuffix(got, "…"); !ok || len(p) > previewBytes || len(p) < previewBytes-6 || !utf8.ValidString(p) {
		t.Fatalf("distilled preview %q", got)
	}
	if got := find("[knowledge/gotcha] **Zebra**: "); got != strings.TrimSpace(body) {
		t.Fatalf("knowledge content must not be cut: %d bytes", len(got))
	}
}

func TestMessageCap(t *testing.T) {
	st := newStore(t)
	msgs := make([]any, MaxMessages+5)
	for i := range msgs {
		switch {
		case i < 5:
			msgs[i] = "ancient marker"
		case i == 5:
			msgs[i] = "boundary marker"
		default:
			msgs[i] = "filler"
		}
	}
	addMessages(t, st, "SA", nsA, 0, msgs...)
	q := Query{SessionID: "SA", Namespace: nsA, Text: "ancient"}
	if got := search(t, st, q); got != "No matches for: ancient" {
		t.Fatalf("a message older than the newest %d was read:\n%s", MaxMessages, got)
	}
	q.Text = "boundary"
	rankings, err := collect(context.Background(), st, q, []string{"boundary"})
	if err != nil {
		t.Fatal(err)
	}
	if r := fuse(rankings, MaxResults); len(r) != 1 || r[0].key != "temporal:5" || !strings.Contains(r[0].line, "(message 5)") {
		t.Fatalf("the oldest message of the window: %v", keys(r))
	}
}

func TestMessageText(t *testing.T) {
	blocks := []map[string]any{
		{"type": "thinking", "thinking": "private reasoning"},
		{"type": "text", "text": "Running the tests."},
		{"type": "tool_use", "id": "t1", "name": "Bash", "input": map[string]string{"command": "go test ./..."}},
		{"type": "tool_result", "tool_use_id": "t1", "content": "ok  pkg"},
		{"type": "tool_result", "tool_use_id": "t2", "content": []map[string]string{{"type": "text", "text": "FAIL x"}, {"type": "image"}}},
		{"type": "image", "source": map[string]string{"data": "aGVsbG8="}},
	}
	got := messageText(rawContent(t, blocks))
	want := "Running the tests.\nBash {\"command\":\"go test ./...\"}\nok  pkg\nFAIL x"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := messageText(rawContent(t, "plain text")); got != "plain text" {
		t.Fatal(got)
	}
	if got := messageText([]byte(`{"not":"content"}`)); got != "" {
		t.Fatal(got)
	}
}

func TestOneLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"  a\n\nb\tc  ", 100, "a b c"},
		{"abcdef", 3, "abc…"},
		{"ab cd", 3, "ab…"}, // the space would be the 3rd byte, but "c" does not fit
		{"ab cd", 5, "ab cd"},
		{"aé", 2, "a…"},
		{"bad\xffbyte", 100, "bad\uFFFDbyte"},
	} {
		if got := oneLine(c.in, c.n); got != c.want {
			t.Fatalf("oneLine(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// BenchmarkSearch is a long session's recall: 1,000 messages of mixed
// blocks, 30 distillations and 20 knowledge entries.
func BenchmarkSearch(b *testing.B) {
	st := newStore(b)
	words := strings.Fields("redis cluster slot lua script handler splice stream gradient layer budget token cache prompt session batch worker curator")
	msgs := make([]any, 1000)
	for i := range msgs {
		w := func(k int) string { return words[(i*7+k)%len(words)] }
		text := fmt.Sprintf("In %s.go the %s fails when %s meets %s; see error %d. ", w(0), w(1), w(2), w(3), i)
		if i%2 == 0 {
			msgs[i] = strings.Repeat(text, 3)
		} else {
			msgs[i] = []map[string]any{
				{"type": "text", "text": text},
				{"type": "tool_use", "id": fmt.Sprint("t", i), "name": "Read", "input": map[string]string{"path": w(4) + ".go"}},
				{"type": "tool_result", "tool_use_id": fmt.Sprint("t", i), "content": strings.Repeat(text, 5)},
			}
		}
	}
	addMessages(b, st, "SA", nsA, 0, msgs...)
	obs := make([]string, 30)
	for i := range obs {
		obs[i] = strings.Repeat(fmt.Sprintf("* %s decided to keep %s in the %s. ", words[i%len(words)], words[(i+3)%len(words)], words[(i+5)%len(words)]), 8)
	}
	addRows(b, st, "SA", obs...)
	var entries []knowledge.Entry
	for i := range 20 {
		entries = append(entries, kn(fmt.Sprint("k", i), "gotcha", words[i%len(words)]+" notes", strings.Repeat(words[(i+1)%len(words)]+" ", 40), 1))
	}
	putKnowledge(b, st, nsA, proj, entries...)
	q := Query{SessionID: "SA", Namespace: nsA, Project: proj, Text: "why does the lua script fail in the redis cluster slot?"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Search(ctx, st, q); err != nil {
			b.Fatal(err)
		}
	}
}
