package lore

import (
	"errors"
	"fmt"

	"github.com/caddy-lore/caddy-lore/auth"
)

// rotatedKeyring applies old_credential_keys to the keyring of
// credential_key: credentials sealed under an earlier key still open, and
// sessions keep their names (auth.Keyring.WithPrevious). Entries that
// resolve to nothing (an unset {env.*}) are skipped, so a deployment can
// keep the line and empty the variable once no earlier key is needed.
func (l *Lore) rotatedKeyring(keys *auth.Keyring, resolve func(string) string) (*auth.Keyring, error) {
	var old []string
	for _, k := range l.OldCredentialKeys {
		if k = resolve(k); k != "" {
			old = append(old, k)
		}
	}
	if len(old) == 0 {
		return keys, nil
	}
	if resolve(l.CredentialKey) == "" {
		return nil, errors.New("old_credential_keys needs credential_key (the new key)")
	}
	rotated, err := keys.WithPrevious(old...)
	if err != nil {
		return nil, fmt.Errorf("old_credential_keys: %w", err)
	}
	return rotated, nil
}
