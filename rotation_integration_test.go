package lore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/store"
)

const itSecretNew = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestUnmarshalOldCredentialKeys(t *testing.T) {
	var l Lore
	err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser("lore {\ncredential_key {env.NEW}\nold_credential_keys {env.OLD1} {env.OLD2}\n}"))
	if err != nil || fmt.Sprint(l.OldCredentialKeys) != "[{env.OLD1} {env.OLD2}]" {
		t.Fatalf("old_credential_keys: %v %q", err, l.OldCredentialKeys)
	}
	if err := new(Lore).UnmarshalCaddyfile(caddyfile.NewTestDispenser("lore {\nold_credential_keys\n}")); err == nil ||
		!strings.Contains(err.Error(), "wrong argument count") {
		t.Fatalf("no keys: %v", err)
	}
}

// TestIntegrationCredentialKeyRotation: a session made under key A continues
// after a reload with credential_key B and old_credential_keys A (its sealed
// credential still opens for background work); with B alone the same
// conversation starts a new session, as docs/operations.md, Rotating `credential_key`, says.
func TestIntegrationCredentialKeyRotation(t *testing.T) {
	e := newITEnv(t)
	mr := miniredis.RunT(t)
	t.Setenv("LORE_IT_OLD_KEY", itSecret)
	tester := caddytest.NewTester(t)
	conf := func(keys string) string {
		return e.caddyfile(fmt.Sprintf("redis %s\n\t\t%s\n\t\tknowledge off\n\t\tidle_timeout 0", mr.Addr(), keys))
	}
	st, err := store.Open(store.Config{Addresses: []string{mr.Addr()}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ctx := context.Background()
	c := sdkClient(t)
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: itKey}

	tester.InitServer(conf("credential_key "+itSecret), "caddyfile")
	sdkTurn(t, c, "rotate me")
	sessions := waitSessions(t, mr, 1)
	sid := sessions[0]

	tester.InitServer(conf("credential_key "+itSecretNew+"\n\t\told_credential_keys {env.LORE_IT_OLD_KEY}"), "caddyfile")
	sdkTurn(t, c, "rotate me", "ok (turn 1)", "second")
	var sess *store.Session
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if sess, err = st.LoadSession(ctx, sid); err == nil && sess != nil && sess.Turns == 2 {
			break
		}
	}
	if sess == nil || sess.Turns != 2 {
		t.Fatalf("after rotating with the old key listed, the session did not continue: %+v %v", sess, err)
	}
	if got := waitSessions(t, mr, 1); len(got) != 1 {
		t.Fatalf("sessions after rotation: %v", got)
	}
	newOnly, _ := auth.NewKeyring(itSecretNew)
	rotated, err := newOnly.WithPrevious(itSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, src, err := rotated.Resolve(ctx, sid, st, auth.Credential{})
	if err != nil || src != auth.SourceSession || got != cred {
		t.Fatalf("background work after rotation resolves %v from %q (%v), want the session's credential", got, src, err)
	}
	if _, src, _ := newOnly.Resolve(ctx, sid, st, auth.Credential{}); src != auth.SourceNone {
		t.Fatalf("the new key alone opened the old blob (%q)", src)
	}

	// Without the old key the namespace changes: the same conversation is a
	// new session, and the old one is orphaned until retention expires it.
	tester.InitServer(conf("credential_key "+itSecretNew), "caddyfile")
	sdkTurn(t, c, "rotate me", "ok (turn 1)", "second", "ok (turn 2)", "third")
	if got := waitSessions(t, mr, 2); len(got) != 2 {
		t.Fatalf("sessions after dropping the old key: %v, want the old one and a new one", got)
	}
}

// waitSessions waits until redis holds n sessions and returns their ids.
func waitSessions(t *testing.T, mr *miniredis.Miniredis, n int) []string {
	t.Helper()
	var ids []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ids = ids[:0]
		for _, k := range mr.Keys() {
			if id, ok := strings.CutPrefix(k, "lore:s:{"); ok && strings.HasSuffix(id, "}:state") {
				ids = append(ids, strings.TrimSuffix(id, "}:state"))
			}
		}
		if len(ids) >= n {
			break
		}
	}
	sort.Strings(ids)
	return ids
}

func TestProvisionOldCredentialKeysErrors(t *testing.T) {
	t.Setenv("LORE_T_OLD", "too-short")
	t.Setenv("LORE_T_EMPTY", "")
	for _, tc := range []struct {
		name    string
		l       Lore
		wantErr string
	}{
		{"without credential_key", Lore{OldCredentialKeys: []string{itSecret}}, "old_credential_keys needs credential_key"},
		{"short old key", Lore{CredentialKey: itSecretNew, OldCredentialKeys: []string{"{env.LORE_T_OLD}"}}, "old_credential_keys: auth: previous credential key 1: auth: the credential key is 9 bytes long"},
		{"same as the new key", Lore{CredentialKey: itSecretNew, OldCredentialKeys: []string{itSecretNew}}, "is the current credential key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tc.l.Provision(ctx)
			_ = tc.l.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			for _, secret := range []string{itSecret, itSecretNew, "too-short"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatal("the error shows a key")
				}
			}
		})
	}
	// An empty variable is no old key: the embedded store's own key is used.
	l := Lore{OldCredentialKeys: []string{"{env.LORE_T_EMPTY}"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := l.Provision(ctx)
	_ = l.Cleanup()
	if err != nil {
		t.Fatalf("an empty old key: %v", err)
	}
}
