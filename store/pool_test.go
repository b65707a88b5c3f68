package store

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

func TestPoolSharing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s1, err := Open(b.cfg, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			other := b.cfg
			other.KeyPrefix = b.prefix() + "other:" // per handle, not per client
			s2, err := Open(other, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if s1.e != s2.e {
				t.Fatal("two Opens of one config made two clients")
			}
			if refs, _ := clients.References(s1.poolKey); refs != 2 {
				t.Fatalf("references = %d, want 2", refs)
			}
			if b.mini != nil {
				for _, s := range []*Store{s1, s2} {
					if err := s.Ping(ctx); err != nil {
						t.Fatal(err)
					}
				}
				_ = b.raw.Ping(ctx)
				if n, err := s1.ConnectedClients(ctx); err != nil || n != 2 { // the shared client's one conn + raw
					t.Fatalf("connected clients = %d, %v", n, err)
				}
			}
			client := s1.e.client

			if err := s1.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s1.Close(); err != nil { // twice is fine
				t.Fatal(err)
			}
			if err := s2.Ping(ctx); err != nil {
				t.Fatalf("closing one handle closed the shared client: %v", err)
			}
			if _, err := s1.LoadSession(ctx, "S"); !errors.Is(err, ErrClosed) {
				t.Fatalf("closed handle: %v", err)
			}
			if s1.Available() {
				t.Fatal("closed handle reports available")
			}

			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			if _, ok := clients.References(s1.poolKey); ok {
				t.Fatal("pool entry survived its last handle")
			}
			if err := client.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
				t.Fatalf("destructor did not close the client: %v", err)
			}
		})
	}
}

func TestCloseNil(t *testing.T) {
	var s *Store
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Embedded() || s.Available() || s.EmbeddedSecret() != "" {
		t.Fatal("nil store reports state")
	}
	if _, err := s.LoadSession(context.Background(), "S"); !errors.Is(err, ErrClosed) {
		t.Fatalf("nil store: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	ctx := context.Background()
	log, logs := observed()
	a, err := Open(Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Embedded() || a.e.mini == nil {
		t.Fatal("not embedded")
	}
	host, _, _ := net.SplitHostPort(a.e.mini.Addr())
	if host != "127.0.0.1" {
		t.Fatalf("embedded server listens on %s, want loopback", a.e.mini.Addr())
	}
	secret := a.EmbeddedSecret()
	if len(secret) != 64 {
		t.Fatalf("embedded secret length %d", len(secret))
	}
	sess := sampleSession("E1")
	if err := a.CommitTurn(ctx, Turn{Session: sess, Messages: sampleMessages(0, 1), Credential: []byte("c")}); err != nil {
		t.Fatal(err)
	}

	// A reload: the new instance opens before the old one closes.
	b, err := Open(Config{KeyPrefix: "lore:"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LoadSession(ctx, "E1"); err != nil || !reflect.DeepEqual(got, sess) {
		t.Fatalf("state lost across reload: %+v, %v", got, err)
	}
	if got, _ := b.CredentialBlob(ctx, "E1"); string(got) != "c" {
		t.Fatalf("blob lost across reload: %q", got)
	}
	if b.EmbeddedSecret() != secret {
		t.Fatal("embedded secret changed across reload")
	}
	warns := logs.FilterMessageSnippet("embedded in-process store").All()
	if len(warns) != 1 || warns[0].Level != zap.WarnLevel || !strings.Contains(warns[0].Message, "lost") {
		t.Fatalf("embedded warning logged %d times: %v", len(warns), warns)
	}

	// The last handle gone, the data goes with it.
	addr := b.e.mini.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("embedded server still listening after the last Close")
	}
	c, err := Open(Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if got, err := c.LoadSession(ctx, "E1"); got != nil || err != nil {
		t.Fatalf("fresh embedded store has old state: %+v, %v", got, err)
	}
	if c.EmbeddedSecret() == secret {
		t.Fatal("fresh embedded store reuses the old secret")
	}
	if n := len(logs.FilterMessageSnippet("embedded in-process store").All()); n != 2 {
		t.Fatalf("warnings = %d, want one per server", n)
	}
	if ext := open(t, Config{Addresses: []string{"127.0.0.1:1"}}); ext.EmbeddedSecret() != "" || ext.Embedded() {
		t.Fatal("external store has an embedded secret")
	}
}
