package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const (
	secretA = "0123456789abcdef0123456789abcdef" // exactly MinSecretLen
	secretB = "fedcba9876543210fedcba9876543210"
)

func mustKeyring(t *testing.T, secret string) *Keyring {
	t.Helper()
	k, err := NewKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeyringRefusesShortSecrets(t *testing.T) {
	for _, secret := range []string{"", "short-secret-Z9", strings.Repeat("q", MinSecretLen-1)} {
		k, err := NewKeyring(secret)
		if err == nil || k != nil {
			t.Fatalf("len %d accepted", len(secret))
		}
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Fatalf("error echoes the secret: %v", err)
		}
		if !strings.Contains(err.Error(), "at least 32") {
			t.Fatalf("error does not say the minimum: %v", err)
		}
	}
	if _, err := NewKeyring(secretA); err != nil {
		t.Fatalf("MinSecretLen refused: %v", err)
	}
}

func TestFingerprintAndNamespace(t *testing.T) {
	ka, kb := mustKeyring(t, secretA), mustKeyring(t, secretB)
	key := Credential{Scheme: SchemeAPIKey, Value: "sk-1"}
	sameValueBearer := Credential{Scheme: SchemeBearer, Value: "sk-1"}
	other := Credential{Scheme: SchemeAPIKey, Value: "sk-2"}
	hex12 := regexp.MustCompile(`^[0-9a-f]{12}$`)
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)

	tests := []struct {
		name string
		got  string
		re   *regexp.Regexp
	}{
		{"fingerprint", ka.Fingerprint(key), hex12},
		{"namespace", ka.Namespace(key), hex32},
	}
	for _, tt := range tests {
		if !tt.re.MatchString(tt.got) {
			t.Errorf("%s = %q, want %s", tt.name, tt.got, tt.re)
		}
	}
	if got := ka.Fingerprint(Credential{}); got != "none" {
		t.Errorf("Fingerprint(zero) = %q", got)
	}
	if got := ka.Namespace(Credential{}); got != "anon" {
		t.Errorf("Namespace(zero) = %q", got)
	}
	// Stable for one key, different across credentials, schemes and keys, and
	// the two hashes are independent.
	distinct := []string{
		ka.Namespace(key), ka.Namespace(sameValueBearer), ka.Namespace(other), kb.Namespace(key),
	}
	seen := map[string]bool{}
	for _, ns := range distinct {
		if seen[ns] {
			t.Errorf("namespace collision: %v", distinct)
		}
		seen[ns] = true
	}
	if ka.Namespace(key) != mustKeyring(t, secretA).Namespace(key) {
		t.Error("namespace not stable for one secret")
	}
	if ka.Fingerprint(key) != mustKeyring(t, secretA).Fingerprint(key) {
		t.Error("fingerprint not stable for one secret")
	}
	if strings.HasPrefix(ka.Namespace(key), ka.Fingerprint(key)) {
		t.Error("fingerprint is a prefix of the namespace: keys not independent")
	}
	if ka.Fingerprint(key) == kb.Fingerprint(key) {
		t.Error("fingerprint does not depend on the secret")
	}
}

func TestSealOpen(t *testing.T) {
	k := mustKeyring(t, secretA)
	for _, c := range []Credential{
		{Scheme: SchemeAPIKey, Value: "sk-ant-api03-abc"},
		{Scheme: SchemeBearer, Value: "sk-ant-oat01-xyz"},
		{Scheme: SchemeBearer, Value: strings.Repeat("x", 4096)},
		{Scheme: SchemeBearer, Value: "sk-proj-openai", Provider: ProviderOpenAI},
		{Scheme: SchemeAPIKey, Value: "sk-ant-api03-abc", Provider: ProviderOpenAI},
	} {
		blob, err := k.Seal(c, "session-A")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(blob, []byte(c.Value)) {
			t.Fatal("blob contains the plaintext")
		}
		if blob[0] != blobVersion || len(blob) != 1+nonceLen+1+len(c.Value)+tagLen {
			t.Fatalf("blob layout: version %d, len %d", blob[0], len(blob))
		}
		got, err := k.Open(blob, "session-A")
		if err != nil || got != c {
			t.Fatalf("Open = %q/%d bytes, %v", got.Scheme, len(got.Value), err)
		}
		again, _ := k.Seal(c, "session-A")
		if bytes.Equal(again, blob) {
			t.Fatal("two seals of one credential are identical: nonce not random")
		}
	}
	if _, err := k.Seal(Credential{}, "s"); err == nil {
		t.Fatal("sealed a zero credential")
	}
	if _, err := k.Seal(Credential{Scheme: "basic", Value: "v"}, "s"); err == nil {
		t.Fatal("sealed an unknown scheme")
	}
}

func TestOpenFailsCleanly(t *testing.T) {
	const value = "sk-ant-api03-SECRET"
	k := mustKeyring(t, secretA)
	blob, err := k.Seal(Credential{Scheme: SchemeAPIKey, Value: value}, "session-A")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		k    *Keyring
		blob []byte
		aad  string
	}{
		{"other session", k, blob, "session-B"},
		{"empty aad", k, blob, ""},
		{"other secret", mustKeyring(t, secretB), blob, "session-A"},
		{"version byte", k, flip(0), "session-A"},
		{"nonce", k, flip(1), "session-A"},
		{"ciphertext", k, flip(1 + nonceLen), "session-A"},
		{"tag", k, flip(len(blob) - 1), "session-A"},
		{"truncated", k, blob[:len(blob)-1], "session-A"},
		{"header only", k, blob[:1+nonceLen], "session-A"},
		{"empty", k, nil, "session-A"},
		{"plaintext", k, []byte("api-key:" + value), "session-A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.k.Open(tt.blob, tt.aad)
			if !errors.Is(err, ErrSealed) {
				t.Fatalf("err = %v, want ErrSealed", err)
			}
			if !c.IsZero() {
				t.Fatal("failed Open returned a credential")
			}
			if strings.Contains(err.Error(), value) {
				t.Fatalf("error leaks the value: %v", err)
			}
		})
	}
}

// TestAPIKeyAsBearerSameNamespace: one API key is one caller whichever header
// carries it (anthropic-sdk-go v1 sends x-api-key, v2 Authorization: Bearer).
func TestAPIKeyAsBearerSameNamespace(t *testing.T) {
	k := mustKeyring(t, secretA)
	viaHeader := Extract(http.Header{"X-Api-Key": {"sk-ant-api03-same"}})
	viaBearer := Extract(http.Header{"Authorization": {"Bearer sk-ant-api03-same"}})
	if k.Namespace(viaHeader) != k.Namespace(viaBearer) || k.Fingerprint(viaHeader) != k.Fingerprint(viaBearer) {
		t.Fatal("an API key sent as Bearer is a different caller than the same key in x-api-key")
	}
	out := http.Header{}
	viaBearer.SetAnthropic(out)
	viaBearer.EnsureOAuthBeta(out)
	if out.Get("X-Api-Key") != "sk-ant-api03-same" || out.Get("Authorization") != "" || out.Get("Anthropic-Beta") != "" {
		t.Fatalf("an API key must go upstream as x-api-key without the OAuth beta: %v", out)
	}
}

// The reused keyed states give the MAC of a fresh hmac.New, also when used
// from many goroutines at once: namespaces are a compatibility promise.
func TestKeyedMACMatchesHMAC(t *testing.T) {
	k, err := NewKeyring(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	want := func(key []byte, parts ...string) string {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write([]byte(p))
		}
		return hex.EncodeToString(m.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := fmt.Sprintf("sk-ant-api03-%d-%d", g, i)
				c := Credential{Scheme: SchemeAPIKey, Value: v}
				if got := k.Namespace(c); got != want(k.ns.key, string(SchemeAPIKey)+"|", v)[:32] {
					t.Errorf("namespace of %s: %s", v, got)
					return
				}
				o := Credential{Scheme: SchemeBearer, Value: v, Provider: ProviderOpenAI}
				if got := k.Fingerprint(o); got != want(k.fp.key, "openai:", string(SchemeBearer), "|", v)[:12] {
					t.Errorf("fingerprint of %s: %s", v, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
