package knowledge

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/store"
)

func TestParseOps(t *testing.T) {
	cases := []struct {
		in   string
		want []string // op kinds
	}{
		{`[{"op":"create","title":"a","content":"b"}]`, []string{"create"}},
		{"```json\n[{\"op\":\"delete\",\"id\":\"x\"}]\n```", []string{"delete"}},
		{"```\n[{\"op\":\"update\",\"id\":\"x\",\"content\":\"c\"}]\n```  ", []string{"update"}},
		{`{"op":"create"}`, nil},                // not an array
		{`here you go: [{"op":"create"}]`, nil}, // prose around it
		{`[1, "x", {"title":"no op"}, {"op":7}, {"op":"delete","id":"y"}]`, []string{"delete"}},
		{``, nil},
	}
	for _, c := range cases {
		var got []string
		for _, op := range ParseOps(c.in) {
			got = append(got, op.Op)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseOps(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate(strings.Repeat("é", 1200)); got != strings.Repeat("é", 1200) {
		t.Fatal("1,200 characters were cut")
	}
	got := Truncate(strings.Repeat("é", 1201))
	if got != strings.Repeat("é", 1200)+" [truncated — entry too long]" {
		t.Fatalf("got %d runes", len([]rune(got)))
	}
}

func TestApplyOps(t *testing.T) {
	conf := 0.5
	existing := []Entry{
		{ID: "e1", Project: projA, Category: "gotcha", Title: "Flaky test", Content: "old", Confidence: 1},
		{ID: "g1", Project: GlobalProject, Category: "preference", Title: "Tabs", Content: "use tabs", Confidence: 1},
		{ID: "gone", Project: projA, Category: "pattern", Title: "Retired", Content: "x", Confidence: 0},
	}
	n := 0
	newID := func() string { n++; return "new" + strconv.Itoa(n) }
	ops := []Op{
		{Op: "create", Title: "  tabs ", Content: "tabs, width 4", Category: "preference"}, // matches the global entry
		{Op: "create", Title: "retired", Content: "back", Category: "bogus"},               // confidence 0: no match, new
		{Op: "create", Title: "Temp", Content: "t"},
		{Op: "delete", ID: "new2"}, // created in this batch, deleted again: never written
		{Op: "update", ID: "e1", Content: "new text", Confidence: &conf},
		{Op: "update", ID: "missing", Content: "ignored"},
		{Op: "delete", ID: "missing"},
		{Op: "create", Title: "", Content: "no title"},
		{Op: "create", Title: "Global one", Content: "everywhere", Scope: "global"},
	}
	a := applyOps(ops, projA, existing, true, newID, 42)
	if a.created != 3 || a.updated != 2 || a.deleted != 1 {
		t.Fatalf("created %d updated %d deleted %d", a.created, a.updated, a.deleted)
	}
	proj, glob := a.changes[projA], a.changes[GlobalProject]
	if proj == nil || glob == nil || len(proj.Delete) != 0 || len(glob.Delete) != 0 {
		t.Fatalf("changes %+v", a.changes)
	}
	titles := func(es []Entry) (out []string) {
		for _, e := range es {
			out = append(out, e.ID+":"+e.Title+"="+e.Content)
		}
		return out
	}
	if got, want := titles(proj.Put), []string{"e1:Flaky test=new text", "new1:retired=back"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("project puts %v, want %v", got, want)
	}
	if got, want := titles(glob.Put), []string{"g1:Tabs=tabs, width 4", "new3:Global one=everywhere"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("global puts %v, want %v", got, want)
	}
	if proj.Put[0].Confidence != 0.5 || proj.Put[1].Category != "pattern" || proj.Put[1].Confidence != 1 || proj.Put[1].CreatedAt != 42 {
		t.Fatalf("fields %+v", proj.Put)
	}
	if existing[0].Content != "old" {
		t.Fatal("applyOps modified its input")
	}
	// Consolidation: creates are ignored, deletes of stored entries written.
	a = applyOps([]Op{{Op: "create", Title: "x", Content: "y"}, {Op: "delete", ID: "e1"}}, projA, existing, false, newID, 43)
	if a.created != 0 || a.deleted != 1 || !reflect.DeepEqual(a.changes[projA].Delete, []string{"e1"}) {
		t.Fatalf("consolidation %+v", a.changes[projA])
	}
}

func TestProjectOf(t *testing.T) {
	a := ProjectOf("You are Claude Code.\n<env>\nWorking directory: /home/dev/src/app\nIs directory a git repo: Yes\n</env>")
	b := ProjectOf("Primary working directory: /home/dev/src/app/\n")
	c := ProjectOf("working directory: /home/dev/src/other")
	if a != b || a == c || len(a) != 17 || a[0] != 'p' {
		t.Fatalf("projects %q %q %q", a, b, c)
	}
	if got := ProjectOf("no environment block"); got != DefaultProject {
		t.Fatalf("unknown project = %q", got)
	}
}

func TestRenderConversation(t *testing.T) {
	msgs := []store.StoredMessage{
		{Role: "user", Content: []byte(`"fix the build"`)},
		{Role: "assistant", Content: []byte(`[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Running it."},{"type":"tool_use","id":"t1","name":"bash","input":{"command":"make"}}]`)},
		{Role: "user", Content: []byte(`[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"` + strings.Repeat("y", 600) + `"}]}]`)},
		{Role: "user", Content: []byte(`[]`)},
	}
	got := renderConversation(msgs)
	want := "[user] fix the build\n\n[assistant] Running it.\n[call:bash] {\"command\":\"make\"}\n\n[tool] [tool output] " + strings.Repeat("y", 500) + " […]"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// Long stretches keep the newest messages.
	var many []store.StoredMessage
	for i := range 100 {
		many = append(many, store.StoredMessage{Role: "user", Content: []byte(`"` + strconv.Itoa(i) + strings.Repeat("z", 1000) + `"`)})
	}
	got = renderConversation(many)
	if !strings.HasPrefix(got, "(earlier messages omitted)") || !strings.Contains(got, "[user] 99zzz") || strings.Contains(got, "[user] 0zzz") || len(got) > maxConversationChars+100 {
		t.Fatalf("long conversation: %d chars", len(got))
	}
}

// TestProjectOfPrefilterAgreesWithTheRegexp: the cheap precondition never
// turns away a prompt the regexp matches.
func TestProjectOfPrefilterAgreesWithTheRegexp(t *testing.T) {
	prompts := []string{
		"Working directory: /a", "  primary WORKING DIRECTORY:\t/b\n", "x\nworking directory: /c\r\n",
		"wor\u212Aing directory: /kelvin", "Working Directory : /no", "working directory:", ":working directory: /d",
		"directory: /e", "DIRECTORY:", "no colon here", "", ":", "y:", "Is directory a git repo: Yes",
		strings.Repeat("a: b\n", 1000) + "Working directory: /long",
	}
	for _, p := range prompts {
		if workingDir.MatchString(p) && !namesWorkingDir(p) {
			t.Errorf("%q: the regexp matches but the prefilter says no", p)
		}
	}
	if namesWorkingDir("You are Claude Code: a CLI. " + strings.Repeat("Rule: keep it small. ", 500)) {
		t.Error("a prompt without a working directory should be rejected before the regexp")
	}
}
