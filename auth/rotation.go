package auth

import (
	"crypto/cipher"
	"fmt"
)

// WithPrevious returns a keyring for a rotated credential_key: k (made from
// the new secret) seals, and blobs sealed under k or under any of the
// previous secrets open (tried newest first, as listed).
//
// Namespaces and fingerprints are computed with the keys of the oldest
// secret, the last one listed. Every session, lineage, knowledge entry and
// batch group is found by its credential's namespace, so a keyring that
// changed them would orphan all of them; keeping the oldest secret's hash
// keys lets a rotation keep every session, and the rotated keyring computes
// the same namespaces as the keyring before the rotation did (a keyring with
// previous secrets hashes like the first keyring of its chain).
//
// Secrets shorter than MinSecretLen, a previous secret equal to the new one
// and repeated ones are refused; errors name the position, never a secret.
func (k *Keyring) WithPrevious(secrets ...string) (*Keyring, error) {
	if len(secrets) == 0 {
		return k, nil
	}
	out := *k
	out.previous = make([]cipher.AEAD, 0, len(secrets))
	seen := map[string]int{}
	var oldest *Keyring
	for i, s := range secrets {
		if j, dup := seen[s]; dup {
			return nil, fmt.Errorf("auth: previous credential key %d repeats key %d", i+1, j)
		}
		seen[s] = i + 1
		prev, err := NewKeyring(s)
		if err != nil {
			return nil, fmt.Errorf("auth: previous credential key %d: %w", i+1, err)
		}
		if prev.Namespace(probe) == k.Namespace(probe) {
			return nil, fmt.Errorf("auth: previous credential key %d is the current credential key", i+1)
		}
		out.previous = append(out.previous, prev.aead)
		oldest = prev
	}
	out.fp, out.ns = oldest.fp, oldest.ns
	return &out, nil
}

// probe is a fixed credential whose namespace tells two secrets apart
// without comparing the secrets themselves.
var probe = Credential{Scheme: SchemeAPIKey, Value: "caddy-lore key comparison probe"}
