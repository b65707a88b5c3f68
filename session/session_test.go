package session

import (
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestClientID(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name, userID     string
		header           http.Header
		wantID, wantFrom string
	}{
		{"json user_id", `{"device_id":"d","account_uuid":"","session_id":"5f1c-uuid"}`, h(), "5f1c-uuid", "metadata"},
		{"legacy user_id", "user_5dd07ce84_account__session_d2e70091-3007-41a3-a916-cb8b0d3098de", h(),
			"d2e70091-3007-41a3-a916-cb8b0d3098de", "metadata"},
		{"legacy with account", "user_ab_account_11111111-2222_session_s-1", h(), "s-1", "metadata"},
		{"metadata wins over headers", `{"session_id":"m"}`, h("X-Claude-Code-Session-Id", "c", "X-Lore-Session-Id", "l"), "m", "metadata"},
		{"claude code header", "", h("X-Claude-Code-Session-Id", "c", "X-Lore-Session-Id", "l"), "c", "claude-code"},
		{"lore header", "opaque-user", h("X-Lore-Session-Id", "l"), "l", "lore"},
		{"json without session", `{"device_id":"d"}`, h(), "", ""},
		{"broken json", `{"session_id":`, h(), "", ""},
		{"nothing", "", h(), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, from := ClientID(tc.userID, tc.header)
			if id != tc.wantID || from != tc.wantFrom {
				t.Fatalf("got (%q, %q), want (%q, %q)", id, from, tc.wantID, tc.wantFrom)
			}
		})
	}
}

func TestLineageSeparates(t *testing.T) {
	base := Lineage("ns1", "claude-sonnet-4-5", "", "", "hello")
	if base != Lineage("ns1", "claude-sonnet-4-5", "", "", "hello") {
		t.Fatal("lineage is not deterministic")
	}
	if len(base) != 32 {
		t.Fatalf("lineage length %d", len(base))
	}
	for name, other := range map[string]string{
		"credential namespace": Lineage("ns2", "claude-sonnet-4-5", "", "", "hello"),
		"model":                Lineage("ns1", "claude-opus-4-5", "", "", "hello"),
		"first message":        Lineage("ns1", "claude-sonnet-4-5", "", "", "hello!"),
		"client id":            Lineage("ns1", "claude-sonnet-4-5", "metadata", "s1", "hello"),
		// field boundaries must not be ambiguous
		"shifted fields": Lineage("ns1claude-sonnet-4-5", "", "", "", "hello"),
	} {
		if other == base {
			t.Errorf("%s does not change the lineage", name)
		}
	}
}

// docs/sessions-and-identity.md, Session ids and lineages: fork threshold 20, smallest |diff| wins.
func TestChoose(t *testing.T) {
	if id, ok := Choose(map[string]int{"a": 10}, 14); !ok || id != "a" {
		t.Fatalf("4 more messages: got %q %v", id, ok)
	}
	if _, ok := Choose(map[string]int{"a": 30}, 5); ok {
		t.Fatal("25 fewer messages must start a new session")
	}
	if id, ok := Choose(map[string]int{"a": 30}, 10); !ok || id != "a" {
		t.Fatal("exactly 20 fewer messages still continues the session")
	}
	if id, _ := Choose(map[string]int{"a": 10, "b": 40}, 38); id != "b" {
		t.Fatalf("closest count: got %q", id)
	}
	if id, _ := Choose(map[string]int{"b": 12, "a": 8}, 10); id != "a" {
		t.Fatalf("tie broken by id: got %q", id)
	}
	if _, ok := Choose(nil, 3); ok {
		t.Fatal("no candidates")
	}
}

// docs/sessions-and-identity.md, Session ids and lineages: the id format.
func TestNewID(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	re := regexp.MustCompile(`^[0-9A-Za-z]{17,}$`)
	seen := map[string]bool{}
	for range 200 {
		id := NewID(now)
		if !re.MatchString(id) {
			t.Fatalf("id %q is not base62 of at least 17 chars", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		// decode with the reference alphabet and check bytes 8..11
		n := new(big.Int)
		for _, c := range id {
			n.Mul(n, big.NewInt(62))
			n.Add(n, big.NewInt(int64(strings.IndexRune(base62, c))))
		}
		b := n.FillBytes(make([]byte, 12))
		secs := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
		if int64(secs) != now.Unix() {
			t.Fatalf("id %q encodes time %d, want %d", id, secs, now.Unix())
		}
	}
}
