package knowledge

import (
	"strings"
	"testing"
)

func entry(id, project, cat, title, content string, conf float64) Entry {
	return Entry{ID: id, Project: project, Category: cat, Title: title, Content: content, Confidence: conf}
}

func TestFormat(t *testing.T) {
	got := Format([]Entry{
		entry("1", projA, "gotcha", "Redis in tests", "start redis-server on 6399", 1),
		entry("2", projA, "decision", "Go version", "1.26", 1),
		entry("3", projA, "gotcha", "Ports", "caddytest uses 2999 and 9080", 1),
	})
	want := "## Long-term Knowledge\n\n### Gotcha\n- **Redis in tests**: start redis-server on 6399\n- **Ports**: caddytest uses 2999 and 9080\n\n### Decision\n- **Go version**: 1.26"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if Format(nil) != "" {
		t.Fatal("no entries must give no block")
	}
}

func TestSelectMatchesContext(t *testing.T) {
	project := []Entry{
		entry("p1", projA, "pattern", "Logging", "use zap, never fmt.Println", 1),
		entry("p2", projA, "gotcha", "Redis cluster slots", "keys of one session share a hash tag so Lua scripts work in cluster mode", 0.9),
		entry("p3", projA, "decision", "Weak", "below the confidence floor", 0.2),
	}
	global := []Entry{
		entry("g1", GlobalProject, "preference", "Commit messages", "small commits with honest messages", 1),
		entry("g2", GlobalProject, "preference", "Cluster naming", "name clusters after rivers", 1),
	}
	ctx := "the redis cluster fails: CROSSSLOT keys in request don't hash to the same slot; the lua script touches two keys of the cluster"
	got := Select(project, global, ctx, 1000)
	// Matching entries first (the Redis one, then the global "cluster"
	// one), the unmatched project entry as a safety net, the unmatched
	// global entry and the weak entry never.
	order := []string{"Redis cluster slots", "Cluster naming", "Logging"}
	last := -1
	for _, title := range order {
		i := strings.Index(got, "**"+title+"**")
		if i < 0 || i < last {
			t.Fatalf("%q missing or out of order in\n%s", title, got)
		}
		last = i
	}
	if strings.Contains(got, "Commit messages") || strings.Contains(got, "Weak") {
		t.Fatalf("unmatched global or weak entry injected:\n%s", got)
	}
}

func TestSelectBudget(t *testing.T) {
	big := entry("b", projA, "pattern", "Big", strings.Repeat("word ", 300), 1) // 1,503 chars: 501+10 tokens
	small := entry("s", projA, "pattern", "Small", "short", 0.5)                // ceil(10/3)+10 = 14 tokens
	mid := entry("m", projA, "pattern", "Mid", strings.Repeat("m", 87), 0.8)    // ceil(90/3)+10 = 40 tokens
	if got := Select([]Entry{big, mid, small}, nil, "", 15+40+14); !strings.Contains(got, "**Mid**") ||
		!strings.Contains(got, "**Small**") || strings.Contains(got, "**Big**") {
		t.Fatalf("budget 69: the big entry must be skipped and both smaller ones kept:\n%s", got)
	}
	if got := Select([]Entry{big, mid, small}, nil, "", 15+40+13); strings.Contains(got, "**Small**") || !strings.Contains(got, "**Mid**") {
		t.Fatalf("budget 68: only Mid fits:\n%s", got)
	}
	if Select([]Entry{small}, nil, "", 15) != "" {
		t.Fatal("a budget that only pays the header must give nothing")
	}
}

func TestSelectWithoutContext(t *testing.T) {
	var project []Entry
	for i := range 12 {
		project = append(project, entry(string(rune('a'+i)), projA, "pattern", "P"+string(rune('a'+i)), "c", 1-float64(i)/100))
	}
	got := Select(project, []Entry{entry("g", GlobalProject, "preference", "G", "g", 1)}, "short", 100000)
	if n := strings.Count(got, "\n- **P"); n != noContextEntries {
		t.Fatalf("%d project entries without context, want %d", n, noContextEntries)
	}
	if !strings.Contains(got, "**G**") || strings.Contains(got, "**Pk**") {
		t.Fatalf("got\n%s", got)
	}
}
