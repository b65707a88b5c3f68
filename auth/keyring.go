package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// Keyring holds the keys derived from the operator's credential_key.
//
// The three keys are independent HKDF outputs, so neither hash reveals
// anything about the encryption key, and a fingerprint printed in a log cannot
// be correlated with a namespace in Redis.
type Keyring struct {
	aead cipher.AEAD // AES-256-GCM, for Seal/Open
	fp   *keyedMAC   // HMAC of Fingerprint
	ns   *keyedMAC   // HMAC of Namespace
	// previous opens blobs sealed under earlier credential keys, newest
	// first (see WithPrevious); Seal never uses them.
	previous []cipher.AEAD
}

// MinSecretLen is the shortest credential_key accepted.
const MinSecretLen = 32

// HKDF parameters. The salt is a fixed domain separator (RFC 5869 allows
// one); the info labels keep the three derived keys independent. Changing any
// of them orphans every stored credential and session, so they are versioned.
const (
	hkdfSalt      = "caddy-lore keyring"
	infoEncrypt   = "caddy-lore v1 credential encryption (AES-256-GCM)"
	infoFingerpr  = "caddy-lore v1 credential fingerprint (HMAC-SHA256)"
	infoNamespace = "caddy-lore v1 session namespace (HMAC-SHA256)"
)

// Sealed blob layout: version byte, GCM nonce, ciphertext+tag.
const (
	blobVersion = 1
	nonceLen    = 12
	tagLen      = 16
)

// Plaintext scheme codes inside a sealed blob: a byte instead of the scheme
// string keeps blobs short and the format independent of Scheme's spelling.
//
// The provider rides in the same byte (codeOpenAI), so a sealed credential
// carries where it may be sent and no stored field outside the AEAD can
// redirect it. Blobs sealed before providers existed have no flag: Anthropic.
const (
	codeAPIKey = 1
	codeBearer = 2
	codeOpenAI = 0x10
)

// ErrSealed is returned by Open for a blob that does not open: tampered,
// sealed for another session, sealed under another credential_key, or not a
// blob at all. It deliberately carries no detail.
var ErrSealed = errors.New("auth: sealed credential does not open (tampered, other session, or other credential_key)")

// NewKeyring derives the encryption, fingerprint and namespace keys from
// secret with HKDF-SHA256 (distinct info labels). Secrets shorter than
// MinSecretLen are refused with a message that never echoes the secret.
func NewKeyring(secret string) (*Keyring, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: the credential key is %d bytes long; at least %d are required "+
			"(for example 64 hex digits from `openssl rand -hex 32`)", len(secret), MinSecretLen)
	}
	return derive([]byte(secret))
}

func derive(secret []byte) (*Keyring, error) {
	key := func(info string) ([]byte, error) {
		out := make([]byte, 32)
		_, err := io.ReadFull(hkdf.New(sha256.New, secret, []byte(hkdfSalt), []byte(info)), out)
		return out, err
	}
	encKey, err := key(infoEncrypt)
	if err != nil {
		return nil, fmt.Errorf("auth: derive keys: %w", err)
	}
	fpKey, err := key(infoFingerpr)
	if err != nil {
		return nil, fmt.Errorf("auth: derive keys: %w", err)
	}
	nsKey, err := key(infoNamespace)
	if err != nil {
		return nil, fmt.Errorf("auth: derive keys: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("auth: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: cipher: %w", err)
	}
	return &Keyring{aead: aead, fp: newKeyedMAC(fpKey), ns: newKeyedMAC(nsKey)}, nil
}

// mac is HMAC-SHA256 over "scheme|value", prefixed with "openai:" for an
// OpenAI-provider credential. The separators cannot occur in a scheme, so two
// different credentials never share an input; Anthropic credentials keep the
// input (and so the namespaces) they had before providers were recorded. The
// same key accepted by the two providers gets two namespaces and two batch
// groups: its sessions and queued work never mix.
func mac(km *keyedMAC, c Credential) []byte {
	prefix := ""
	if c.Provider == ProviderOpenAI {
		prefix = "openai:"
	}
	return km.sum(prefix, string(c.Scheme), "|", c.Value)
}

// keyedMAC is HMAC-SHA256 under one key, its keyed states kept for reuse:
// every request computes a namespace and a fingerprint, and hmac.New (the key
// schedule and two hash states) was most of their cost.
type keyedMAC struct {
	key  []byte
	pool sync.Pool // of hash.Hash from hmac.New(sha256.New, key)
}

func newKeyedMAC(key []byte) *keyedMAC {
	km := &keyedMAC{key: key}
	km.pool.New = func() any { return hmac.New(sha256.New, key) }
	return km
}

// sum is the MAC of the concatenated parts.
func (km *keyedMAC) sum(parts ...string) []byte {
	m := km.pool.Get().(hash.Hash)
	m.Reset()
	for _, p := range parts {
		_, _ = io.WriteString(m, p)
	}
	out := m.Sum(nil)
	km.pool.Put(m)
	return out
}

// Fingerprint is a short (12 hex) keyed, non-reversible label for logs and
// admin output; "none" for a zero credential.
func (k *Keyring) Fingerprint(c Credential) string {
	if c.IsZero() {
		return "none"
	}
	return hex.EncodeToString(mac(k.fp, c)[:6])
}

// Namespace is the keyed hash (32 hex) that every session of c lives under;
// "anon" for a zero credential.
func (k *Keyring) Namespace(c Credential) string {
	if c.IsZero() {
		return "anon"
	}
	return hex.EncodeToString(mac(k.ns, c)[:16])
}

// IdentityNamespace is the namespace of a person named by the operator's
// `identity` (docs/sessions-and-identity.md, Namespaces): the same keyed hash, over "identity|" and the value,
// an input no credential's mac can have (a scheme never is "identity").
// Empty for an empty identity: the caller must refuse the request.
func (k *Keyring) IdentityNamespace(identity string) string {
	if identity == "" {
		return ""
	}
	return "id-" + hex.EncodeToString(k.ns.sum("identity|", identity)[:16])
}

// additionalData binds the blob's version to the caller's aad, so a blob
// cannot be replayed under another format version either.
func additionalData(aad string) []byte {
	return append([]byte{blobVersion}, aad...)
}

// Seal encrypts c for storage, binding it to aad (the session id) so a blob
// copied to another session does not open. A zero credential is refused:
// storing "nothing" encrypted would only hide a caller bug.
func (k *Keyring) Seal(c Credential, aad string) ([]byte, error) {
	var code byte
	switch {
	case c.IsZero():
		return nil, errors.New("auth: seal: no credential")
	case c.Scheme == SchemeAPIKey:
		code = codeAPIKey
	case c.Scheme == SchemeBearer:
		code = codeBearer
	default:
		return nil, fmt.Errorf("auth: seal: unknown scheme %q", string(c.Scheme))
	}
	switch c.Provider {
	case ProviderAnthropic:
	case ProviderOpenAI:
		code |= codeOpenAI
	default:
		return nil, fmt.Errorf("auth: seal: unknown provider %d", c.Provider)
	}
	plain := make([]byte, 0, 1+len(c.Value))
	plain = append(plain, code)
	plain = append(plain, c.Value...)

	blob := make([]byte, 1+nonceLen, 1+nonceLen+len(plain)+tagLen)
	blob[0] = blobVersion
	if _, err := rand.Read(blob[1 : 1+nonceLen]); err != nil {
		return nil, fmt.Errorf("auth: seal: nonce: %w", err)
	}
	blob = k.aead.Seal(blob, blob[1:1+nonceLen], plain, additionalData(aad))
	clear(plain)
	return blob, nil
}

// Open decrypts a blob made by Seal with the same aad. Any failure is
// ErrSealed, which says nothing about the blob's contents.
func (k *Keyring) Open(blob []byte, aad string) (Credential, error) {
	if len(blob) < 1+nonceLen+tagLen+1 || blob[0] != blobVersion {
		return Credential{}, ErrSealed
	}
	plain, err := k.aead.Open(nil, blob[1:1+nonceLen], blob[1+nonceLen:], additionalData(aad))
	for _, prev := range k.previous {
		if err == nil {
			break
		}
		plain, err = prev.Open(nil, blob[1:1+nonceLen], blob[1+nonceLen:], additionalData(aad))
	}
	if err != nil || len(plain) < 2 {
		return Credential{}, ErrSealed
	}
	var c Credential
	code := plain[0]
	if code&codeOpenAI != 0 {
		c.Provider, code = ProviderOpenAI, code&^codeOpenAI
	}
	switch code {
	case codeAPIKey:
		c.Scheme = SchemeAPIKey
	case codeBearer:
		c.Scheme = SchemeBearer
	default:
		return Credential{}, ErrSealed
	}
	c.Value = string(plain[1:])
	clear(plain)
	return c, nil
}

// String keeps the keys out of any print of a Keyring (fmt would otherwise
// print its unexported byte slices). Value receivers, so that a Keyring and a
// *Keyring are both covered.
func (k Keyring) String() string {
	return "auth.Keyring(redacted)"
}

// GoString serves %#v.
func (k Keyring) GoString() string { return k.String() }

// Format serves every other fmt verb.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }
