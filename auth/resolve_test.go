package auth

import (
	"context"
	"errors"
	"testing"
)

// blobMap is an in-memory BlobSource that records what it was asked.
type blobMap struct {
	blobs map[string][]byte
	err   error
	asked []string
}

func (m *blobMap) CredentialBlob(_ context.Context, id string) ([]byte, error) {
	m.asked = append(m.asked, id)
	if m.err != nil {
		return nil, m.err
	}
	return m.blobs[id], nil
}

func TestResolve(t *testing.T) {
	k := mustKeyring(t, secretA)
	userA := Credential{Scheme: SchemeAPIKey, Value: "sk-user-a"}
	userB := Credential{Scheme: SchemeBearer, Value: "oat-user-b"}
	service := Credential{Scheme: SchemeAPIKey, Value: "sk-operator"}
	seal := func(c Credential, aad string) []byte {
		b, err := k.Seal(c, aad)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	blobA := seal(userA, "A")
	other := mustKeyring(t, secretB)
	blobOtherKey, _ := other.Seal(userA, "A")
	readErr := errors.New("redis down")

	tests := []struct {
		name    string
		session string
		blobs   map[string][]byte
		err     error
		service Credential
		want    Credential
		source  Source
		wantErr error
	}{
		{"session credential first", "A", map[string][]byte{"A": blobA}, nil, service, userA, SourceSession, nil},
		{"session credential without service", "A", map[string][]byte{"A": blobA}, nil, Credential{}, userA, SourceSession, nil},
		{"bearer session credential", "B", map[string][]byte{"B": seal(userB, "B")}, nil, service, userB, SourceSession, nil},
		{"no blob: service", "A", nil, nil, service, service, SourceService, nil},
		{"no blob, no service: none", "A", nil, nil, Credential{}, Credential{}, SourceNone, nil},
		// A's blob copied under B's id must not let B's work run on A's key.
		{"blob of A stored as B does not open", "B", map[string][]byte{"B": blobA}, nil, service, service, SourceService, nil},
		{"blob of A stored as B, no service", "B", map[string][]byte{"B": blobA}, nil, Credential{}, Credential{}, SourceNone, nil},
		{"other credential_key: service", "A", map[string][]byte{"A": blobOtherKey}, nil, service, service, SourceService, nil},
		{"garbage blob: none", "A", map[string][]byte{"A": []byte("junk")}, nil, Credential{}, Credential{}, SourceNone, nil},
		// Other sessions' credentials are never a fallback.
		{"other sessions ignored", "C", map[string][]byte{"A": blobA, "B": seal(userB, "B")}, nil, Credential{}, Credential{}, SourceNone, nil},
		{"no session id: service", "", map[string][]byte{"": blobA}, nil, service, service, SourceService, nil},
		{"read error is returned", "A", map[string][]byte{"A": blobA}, readErr, service, Credential{}, SourceNone, readErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &blobMap{blobs: tt.blobs, err: tt.err}
			got, source, err := k.Resolve(context.Background(), tt.session, src, tt.service)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want || source != tt.source {
				t.Fatalf("Resolve = %v (%s) from %s, want %v (%s) from %s",
					got, k.Fingerprint(got), source, tt.want, k.Fingerprint(tt.want), tt.source)
			}
			if tt.session != "" && (len(src.asked) != 1 || src.asked[0] != tt.session) {
				t.Fatalf("asked for %q, want only %q", src.asked, tt.session)
			}
			if tt.session == "" && len(src.asked) != 0 {
				t.Fatalf("asked for %q without a session", src.asked)
			}
		})
	}
}

func TestResolveNilSource(t *testing.T) {
	k := mustKeyring(t, secretA)
	service := Credential{Scheme: SchemeAPIKey, Value: "sk-operator"}
	got, source, err := k.Resolve(context.Background(), "A", nil, service)
	if err != nil || got != service || source != SourceService {
		t.Fatalf("Resolve = %v %s %v", got, source, err)
	}
}
