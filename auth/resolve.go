package auth

import (
	"context"
	"errors"
)

// BlobSource reads a session's sealed credential; nil with no error when the
// session has none. store.Store satisfies it (auth does not import store, so
// the dependency keeps pointing from the handler down).
type BlobSource interface {
	CredentialBlob(ctx context.Context, id string) ([]byte, error)
}

// Source says where Resolve found the credential a worker call will use.
type Source string

const (
	SourceSession Source = "session" // the session's own, last accepted, credential
	SourceService Source = "service" // the operator's worker_credential
	SourceNone    Source = "none"    // nobody: the caller skips the call
)

// Resolve picks the credential for background work of a session
// (docs/sessions-and-identity.md, Whose credential pays for background work):
// the session's stored credential, else the operator's service credential,
// else none. There is deliberately no "last credential seen from anybody"
// fallback: on a shared gateway it would bill one user's work to another.
//
// The blob is opened with sessionID as additional data, so a blob copied
// under another session id does not open. A blob that does not open (tampered,
// or sealed under a previous credential_key) counts as no session credential.
// A read error is returned as is, with SourceNone: the caller cannot know
// whether the session has a credential and must not guess the service one.
func (k *Keyring) Resolve(ctx context.Context, sessionID string, blobs BlobSource, service Credential) (Credential, Source, error) {
	if sessionID != "" && blobs != nil {
		blob, err := blobs.CredentialBlob(ctx, sessionID)
		if err != nil {
			return Credential{}, SourceNone, err
		}
		if blob != nil {
			c, err := k.Open(blob, sessionID)
			if err != nil && !errors.Is(err, ErrSealed) {
				return Credential{}, SourceNone, err
			}
			if err == nil && !c.IsZero() {
				return c, SourceSession, nil
			}
		}
	}
	if !service.IsZero() {
		return service, SourceService, nil
	}
	return Credential{}, SourceNone, nil
}
