package auth

import (
	"errors"
	"strings"
	"testing"
)

const secretC = "c0ffeec0ffeec0ffeec0ffeec0ffeec0"

func TestWithPreviousOpensOldBlobsAndKeepsNamespaces(t *testing.T) {
	cred := Credential{Scheme: SchemeAPIKey, Value: "sk-ant-api03-rotation"}
	a := mustKeyring(t, secretA)
	sealedA, err := a.Seal(cred, "S1")
	if err != nil {
		t.Fatal(err)
	}

	// A → B: B seals, A's blobs still open, names stay A's.
	b, err := mustKeyring(t, secretB).WithPrevious(secretA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open(sealedA, "S1"); err != nil || got != cred {
		t.Fatalf("blob sealed under the previous key: %v %v", got, err)
	}
	if _, err := b.Open(sealedA, "S2"); !errors.Is(err, ErrSealed) {
		t.Fatalf("the previous key opened a blob for another session: %v", err)
	}
	if b.Namespace(cred) != a.Namespace(cred) || b.Fingerprint(cred) != a.Fingerprint(cred) {
		t.Fatal("the rotation changed the namespace or the fingerprint: every session would be orphaned")
	}
	sealedB, err := b.Seal(cred, "S1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open(sealedB, "S1"); !errors.Is(err, ErrSealed) {
		t.Fatal("a rotated keyring still seals with the previous key")
	}
	if got, err := mustKeyring(t, secretB).Open(sealedB, "S1"); err != nil || got != cred {
		t.Fatalf("the new key alone does not open what the rotated keyring sealed: %v", err)
	}
	// Without the previous key, A's blobs no longer open and names change.
	if _, err := mustKeyring(t, secretB).Open(sealedA, "S1"); !errors.Is(err, ErrSealed) {
		t.Fatal("the new key alone opened a blob of the previous key")
	}
	if mustKeyring(t, secretB).Namespace(cred) == a.Namespace(cred) {
		t.Fatal("two keys give one namespace")
	}

	// A → B → C: both earlier keys open, names stay the oldest's.
	c, err := mustKeyring(t, secretC).WithPrevious(secretB, secretA)
	if err != nil {
		t.Fatal(err)
	}
	for name, blob := range map[string][]byte{"A": sealedA, "B": sealedB} {
		if got, err := c.Open(blob, "S1"); err != nil || got != cred {
			t.Fatalf("blob of key %s after two rotations: %v", name, err)
		}
	}
	if c.Namespace(cred) != a.Namespace(cred) {
		t.Fatal("two rotations changed the namespace")
	}
	if s := c.String(); strings.Contains(s, secretA) || strings.Contains(s, secretC) {
		t.Fatalf("String shows a secret: %s", s)
	}
}

func TestWithPreviousRefusals(t *testing.T) {
	b := mustKeyring(t, secretB)
	for _, tc := range []struct {
		old     []string
		wantErr string
	}{
		{[]string{"short"}, "previous credential key 1: auth: the credential key is 5 bytes long"},
		{[]string{secretA, secretA}, "previous credential key 2 repeats key 1"},
		{[]string{secretA, secretB}, "previous credential key 2 is the current credential key"},
	} {
		_, err := b.WithPrevious(tc.old...)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("%d keys: error %v, want %q", len(tc.old), err, tc.wantErr)
		}
		for _, s := range tc.old {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error shows a secret: %v", err)
			}
		}
	}
	if same, err := b.WithPrevious(); err != nil || same != b {
		t.Fatal("no previous keys should return the keyring itself")
	}
}
