package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The embedded store is not reachable by other processes
// (docs/threat-model.md; the `redis` row of docs/configuration.md, Directive).
// A raw client on its loopback port — without the password, or with a guessed
// one — can neither read nor write; the store itself works.
func TestEmbeddedRefusesRawClient(t *testing.T) {
	ctx := context.Background()
	s, err := Open(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.CommitTurn(ctx, Turn{Session: sampleSession("E1"), Credential: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	addr := s.e.mini.Addr()
	for name, opts := range map[string]*redis.Options{
		"no password":      {Addr: addr},
		"guessed password": {Addr: addr, Password: "lore"},
		"the secret":       {Addr: addr, Password: s.EmbeddedSecret()},
	} {
		c := redis.NewClient(opts)
		_, getErr := c.Get(ctx, "lore:s:{E1}:cred").Result()
		setErr := c.Set(ctx, "lore:bq:{batch}:queue", "x", 0).Err()
		keys, keysErr := c.Keys(ctx, "*").Result()
		_ = c.Close()
		for _, err := range []error{getErr, setErr, keysErr} {
			if err == nil || errors.Is(err, redis.Nil) {
				t.Fatalf("%s: a raw client reached the embedded store (keys %v)", name, keys)
			}
			if !strings.Contains(err.Error(), "NOAUTH") && !strings.Contains(err.Error(), "WRONGPASS") &&
				!strings.Contains(err.Error(), "invalid password") {
				t.Fatalf("%s: unexpected error %v", name, err)
			}
		}
	}
	if blob, err := s.CredentialBlob(ctx, "E1"); err != nil || string(blob) != "sealed" {
		t.Fatalf("the store itself: %q, %v", blob, err)
	}
}
