package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/pricing"
)

var t0 = time.Date(2025, 11, 3, 14, 5, 6, 789_000_000, time.UTC)

func sampleSession(id string) *Session {
	return &Session{
		ID: id, Namespace: "0123456789abcdef0123456789abcdef", Fingerprint: "a1b2c3d4e5f6",
		Lineage: "lin0123456789abcdef", Model: "claude-sonnet-4-5", Project: "p0123456789abcdef",
		RecallPending: "<recall-results>r</recall-results>", CreatedAt: t0, LastRequest: t0.Add(90 * time.Second),
		MessageCount: 3, Stored: 3, Turns: 2, TurnsSinceCuration: 1, Gradient: []byte(`{"LastLayer":1}`),
		Usage:        pricing.Usage{InputTokens: 1200, OutputTokens: 340, CacheReadTokens: 900, CacheWriteTokens: 300},
		CostMicroUSD: 4321, CounterfactualMicroUSD: 9876,
	}
}

func sampleMessages(from, n int) []StoredMessage {
	out := make([]StoredMessage, n)
	for i := range out {
		pos := from + i
		role := "user"
		var usage *pricing.Usage
		if pos%2 == 1 {
			role, usage = "assistant", &pricing.Usage{InputTokens: int64(10 * pos), OutputTokens: 5}
		}
		out[i] = StoredMessage{
			ID: "m" + string(rune('a'+pos)), Role: role, Position: pos,
			Content: json.RawMessage(`[{"type":"text","text":"message ` + string(rune('a'+pos)) + `"}]`),
			At:      t0.Add(time.Duration(pos) * time.Second).UnixMilli(), Model: "claude-sonnet-4-5", Usage: usage,
		}
	}
	return out
}

func TestSessionRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()

		if got, err := s.LoadSession(ctx, "missing"); got != nil || err != nil {
			t.Fatalf("missing session = %v, %v", got, err)
		}
		if got, err := s.CredentialBlob(ctx, "missing"); got != nil || err != nil {
			t.Fatalf("missing blob = %v, %v", got, err)
		}
		if got, err := s.Messages(ctx, "missing", 0, -1); got != nil || err != nil {
			t.Fatalf("missing messages = %v, %v", got, err)
		}
		if got, err := s.Candidates(ctx, "missing"); len(got) != 0 || err != nil {
			t.Fatalf("missing lineage = %v, %v", got, err)
		}

		sess := sampleSession("S1")
		msgs := sampleMessages(0, 3)
		blob := []byte{1, 2, 3, 0, 255}
		if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: msgs, Credential: blob}); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadSession(ctx, "S1")
		if err != nil || !reflect.DeepEqual(got, sess) {
			t.Fatalf("LoadSession =\n%+v, %v\nwant\n%+v", got, err, sess)
		}
		gotMsgs, err := s.Messages(ctx, "S1", 0, -1)
		if err != nil || !reflect.DeepEqual(gotMsgs, msgs) {
			t.Fatalf("Messages =\n%+v, %v\nwant\n%+v", gotMsgs, err, msgs)
		}
		if gotBlob, err := s.CredentialBlob(ctx, "S1"); err != nil || !reflect.DeepEqual(gotBlob, blob) {
			t.Fatalf("CredentialBlob = %v, %v", gotBlob, err)
		}

		// Second turn: more messages, no new credential, a sibling session
		// in the same lineage.
		sess.MessageCount, sess.Stored, sess.Turns = 5, 5, 3
		sess.LastRequest = t0.Add(time.Hour)
		more := sampleMessages(3, 2)
		if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: more}); err != nil {
			t.Fatal(err)
		}
		sib := sampleSession("S2")
		sib.MessageCount = 40
		if err := s.CommitTurn(ctx, Turn{Session: sib}); err != nil {
			t.Fatal(err)
		}
		sess.TurnsSinceCuration = 2 // a counter in Redis: one per commit, whatever the session says
		if got, _ := s.LoadSession(ctx, "S1"); !reflect.DeepEqual(got, sess) {
			t.Fatalf("after turn 2: %+v", got)
		}
		if gotBlob, _ := s.CredentialBlob(ctx, "S1"); !reflect.DeepEqual(gotBlob, blob) {
			t.Fatalf("nil credential replaced the blob: %v", gotBlob)
		}
		all := append(append([]StoredMessage{}, msgs...), more...)
		ranges := []struct {
			start, stop int64
			want        []StoredMessage
		}{
			{0, -1, all},
			{3, 4, more},
			{-2, -1, more},
			{1, 1, all[1:2]},
			{5, 10, nil},
		}
		for _, r := range ranges {
			if got, err := s.Messages(ctx, "S1", r.start, r.stop); err != nil || !reflect.DeepEqual(got, r.want) {
				t.Fatalf("Messages(%d,%d) = %+v, %v", r.start, r.stop, got, err)
			}
		}
		cands, err := s.Candidates(ctx, sess.Lineage)
		if want := map[string]int{"S1": 5, "S2": 40}; err != nil || !reflect.DeepEqual(cands, want) {
			t.Fatalf("Candidates = %v, %v, want %v", cands, err, want)
		}
		if got, err := s.Candidates(ctx, ""); got != nil || err != nil {
			t.Fatalf("Candidates(\"\") = %v, %v", got, err)
		}

		// A new credential replaces the old one (latest wins).
		if err := s.CommitTurn(ctx, Turn{Session: sess, Credential: []byte("new")}); err != nil {
			t.Fatal(err)
		}
		if gotBlob, _ := s.CredentialBlob(ctx, "S1"); string(gotBlob) != "new" {
			t.Fatalf("blob = %q", gotBlob)
		}
	})
}

func TestSessionHashFields(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	if err := s.CommitTurn(context.Background(), Turn{Session: sampleSession("S1")}); err != nil {
		t.Fatal(err)
	}
	got := b.raw.HGetAll(context.Background(), "lore:s:{S1}:state").Val()
	want := map[string]string{
		"id": "S1", "ns": "0123456789abcdef0123456789abcdef", "fp": "a1b2c3d4e5f6",
		"lineage": "lin0123456789abcdef", "model": "claude-sonnet-4-5", "project": "p0123456789abcdef", "recall_pending": "<recall-results>r</recall-results>",
		"created_ms": "1762178706789", "last_ms": "1762178796789",
		"msg_count": "3", "stored": "3", "turns": "2", "turns_since_curation": "1", "gradient": `{"LastLayer":1}`,
		"in_tokens": "1200", "out_tokens": "340", "cache_read_tokens": "900", "cache_write_tokens": "300",
		"cost_micro_usd": "4321", "counterfactual_micro_usd": "9876",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hash =\n%v\nwant\n%v", got, want)
	}
}

func TestDecodeSession(t *testing.T) {
	got, err := decodeSession("X", map[string]string{"model": "m", "future_field": "whatever", "created_ms": "0"})
	if want := (&Session{ID: "X", Model: "m"}); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	if _, err := decodeSession("X", map[string]string{"turns": "many"}); err == nil || !strings.Contains(err.Error(), "turns") {
		t.Fatalf("malformed number: %v", err)
	}
}

func TestKeysAndTTLs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		p := b.prefix()
		sess := sampleSession("S1")
		if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 2),
			Credential: []byte("blob"), Retention: time.Hour}); err != nil {
			t.Fatal(err)
		}
		wantKeys := []string{p + "lin:{lin0123456789abcdef}", p + "s:{S1}:cred", p + "s:{S1}:msgs", p + "s:{S1}:state"}
		// The idle active set (keys_idle.go) has no TTL: its members
		// leave when claimed or when older than the retention.
		if got := scanKeys(t, b.raw, p); !reflect.DeepEqual(got, append([]string{p + "idle:{idle}:active"}, wantKeys...)) {
			t.Fatalf("keys = %q, want %q and the idle set", got, wantKeys)
		}
		if ttl := b.raw.TTL(ctx, p+"idle:{idle}:active").Val(); ttl != -1 {
			t.Errorf("TTL(idle set) = %v, want none", ttl)
		}
		checkTTL := func(want time.Duration) {
			t.Helper()
			for _, k := range wantKeys {
				ttl := b.raw.TTL(ctx, k).Val()
				if ttl > want || ttl < want-2*time.Second {
					t.Errorf("TTL(%s) = %v, want %v", k, ttl, want)
				}
			}
		}
		checkTTL(time.Hour)
		// Retention 0 is the 30-day default, and a turn without a new
		// credential still refreshes the credential's TTL.
		if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
			t.Fatal(err)
		}
		checkTTL(DefaultRetention)
	})
}

func TestCommitTurnCluster(t *testing.T) {
	b := backends(t)[0] // miniredis answers CLUSTER SLOTS/SHARDS as a one-node cluster
	cfg := b.cfg
	cfg.Cluster = true
	s := open(t, cfg)
	if !s.e.cluster {
		t.Fatal("not a cluster client")
	}
	ctx := context.Background()
	sess, msgs := sampleSession("C1"), sampleMessages(0, 2)
	if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: msgs, Credential: []byte("b"), Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LoadSession(ctx, "C1"); err != nil || !reflect.DeepEqual(got, sess) {
		t.Fatalf("LoadSession = %+v, %v", got, err)
	}
	if got, err := s.Messages(ctx, "C1", 0, -1); err != nil || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("Messages = %+v, %v", got, err)
	}
	if got, err := s.Candidates(ctx, sess.Lineage); err != nil || !reflect.DeepEqual(got, map[string]int{"C1": 3}) {
		t.Fatalf("Candidates = %v, %v", got, err)
	}
	if ttl := b.mini.TTL("lore:lin:{lin0123456789abcdef}"); ttl != time.Hour {
		t.Fatalf("lineage TTL = %v", ttl)
	}
}

func TestDumpHasNoPlaintextCredential(t *testing.T) {
	const value = "sk-ant-api03-PLAINTEXT-CREDENTIAL-0042"
	keys, err := auth.NewKeyring("an-operator-credential-key-of-sufficient-length")
	if err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, b backend, s *Store) {
		ctx := context.Background()
		cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: value}
		blob, err := keys.Seal(cred, "S1")
		if err != nil {
			t.Fatal(err)
		}
		sess := sampleSession("S1")
		sess.Namespace, sess.Fingerprint = keys.Namespace(cred), keys.Fingerprint(cred)
		if err := s.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 2), Credential: blob}); err != nil {
			t.Fatal(err)
		}
		d := dump(t, b.raw, b.prefix())
		if !strings.Contains(d, sess.Namespace) {
			t.Fatalf("dump incomplete:\n%s", d)
		}
		for _, needle := range []string{value, value[len(value)-8:], "PLAINTEXT"} {
			if strings.Contains(d, needle) {
				t.Fatalf("dump contains %q:\n%s", needle, d)
			}
		}
		// And the stored blob opens for S1 only.
		stored, err := s.CredentialBlob(ctx, "S1")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := keys.Open(stored, "S1"); err != nil || got != cred {
			t.Fatalf("Open = %v, %v", got, err)
		}
		if _, err := keys.Open(stored, "S2"); !errors.Is(err, auth.ErrSealed) {
			t.Fatalf("opened as S2: %v", err)
		}
	})
}

func TestInvalidIDs(t *testing.T) {
	s := open(t, backends(t)[0].cfg)
	ctx := context.Background()
	for _, id := range []string{"", "a}b", "{x", "a b", "a\nb", strings.Repeat("x", maxIDLen+1)} {
		if _, err := s.LoadSession(ctx, id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("LoadSession(%q) = %v", id, err)
		}
		if _, err := s.Messages(ctx, id, 0, -1); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Messages(%q) = %v", id, err)
		}
		if _, err := s.CredentialBlob(ctx, id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("CredentialBlob(%q) = %v", id, err)
		}
		if err := s.CommitTurn(ctx, Turn{Session: &Session{ID: id}}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("CommitTurn(%q) = %v", id, err)
		}
		if id != "" {
			if _, err := s.Candidates(ctx, id); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Candidates(%q) = %v", id, err)
			}
			if err := s.CommitTurn(ctx, Turn{Session: &Session{ID: "ok", Lineage: id}}); !errors.Is(err, ErrInvalidID) {
				t.Errorf("CommitTurn(lineage %q) = %v", id, err)
			}
		}
	}
	if err := s.CommitTurn(ctx, Turn{}); err == nil {
		t.Error("CommitTurn without a session")
	}
	for _, id := range []string{"0Ab3xYz9QwErTy123", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "x-y_z.1:2"} {
		if err := CheckID(id); err != nil {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
}

func TestCorruptValues(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	ctx := context.Background()
	b.raw.RPush(ctx, "lore:s:{S1}:msgs", "{not json")
	b.raw.HSet(ctx, "lore:lin:{L}", "S1", "many")
	if _, err := s.Messages(ctx, "S1", 0, -1); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("corrupt message: %v", err)
	}
	if _, err := s.Candidates(ctx, "L"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("corrupt count: %v", err)
	}
	// A wrong-type reply is Redis speaking, not an outage.
	b.raw.Set(ctx, "lore:s:{S2}:state", "x", 0)
	if _, err := s.LoadSession(ctx, "S2"); err == nil || errors.Is(err, ErrUnavailable) || !s.Available() {
		t.Fatalf("WRONGTYPE: %v, available %v", err, s.Available())
	}
}
