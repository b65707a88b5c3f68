package auth

// Keyring holds the keys derived from the operator's credential_key.
type Keyring struct{}

// MinSecretLen is the shortest credential_key accepted.
const MinSecretLen = 32

// NewKeyring derives the encryption, fingerprint and namespace keys from
// secret with HKDF-SHA256 (distinct info labels). Secrets shorter than
// MinSecretLen are refused with a message that never echoes the secret.
func NewKeyring(secret string) (*Keyring, error) { panic("TODO") }

// RandomKeyring makes a per-process random keyring (embedded store only).
func RandomKeyring() (*Keyring, error) { panic("TODO") }

// Fingerprint is a short (12 hex) keyed, non-reversible label for logs and
// admin output; "none" for a zero credential.
func (k *Keyring) Fingerprint(c Credential) string { panic("TODO") }

// Namespace is the keyed hash (32 hex) that every session of c lives under;
// "anon" for a zero credential.
func (k *Keyring) Namespace(c Credential) string { panic("TODO") }

// Seal encrypts c for storage, binding it to aad (the session id) so a blob
// copied to another session does not open.
func (k *Keyring) Seal(c Credential, aad string) ([]byte, error) { panic("TODO") }

// Open decrypts a blob made by Seal with the same aad.
func (k *Keyring) Open(blob []byte, aad string) (Credential, error) { panic("TODO") }
