package auth_test

import (
	"context"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/store"
)

// store.Store is the BlobSource the handler and workers use.
var _ auth.BlobSource = (*store.Store)(nil)

func TestResolveWithStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(store.Config{KeyPrefix: "auth-test:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	keys, err := auth.NewKeyring(st.EmbeddedSecret())
	if err != nil {
		t.Fatal(err)
	}
	userA := auth.Credential{Scheme: auth.SchemeBearer, Value: "oat-user-a"}
	service := auth.Credential{Scheme: auth.SchemeAPIKey, Value: "sk-operator"}
	blobA, err := keys.Seal(userA, "A")
	if err != nil {
		t.Fatal(err)
	}
	// A's blob committed under A, and the same bytes planted under B.
	for _, id := range []string{"A", "B"} {
		if err := st.CommitTurn(ctx, store.Turn{Session: &store.Session{ID: id}, Credential: blobA}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		session string
		want    auth.Credential
		source  auth.Source
	}{
		{"A", userA, auth.SourceSession},
		{"B", service, auth.SourceService},
		{"C", service, auth.SourceService},
	}
	for _, tt := range tests {
		got, source, err := keys.Resolve(ctx, tt.session, st, service)
		if err != nil || got != tt.want || source != tt.source {
			t.Errorf("Resolve(%s) = %v from %s, %v; want %v from %s", tt.session, got, source, err, tt.want, tt.source)
		}
	}
}
