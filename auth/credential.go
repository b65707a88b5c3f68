// Package auth handles callers' credentials: extraction from request headers,
// the upstream headers of each scheme, keyed non-reversible fingerprints, and
// encryption at rest (AES-256-GCM with HKDF-derived keys).
package auth

import "net/http"

// Scheme is how a credential authenticates.
type Scheme string

const (
	SchemeNone   Scheme = ""
	SchemeAPIKey Scheme = "api-key" // x-api-key
	SchemeBearer Scheme = "bearer"  // Authorization: Bearer (OAuth subscription tokens among others)
)

// OAuthBeta is the anthropic-beta value bearer (OAuth) calls need.
const OAuthBeta = "oauth-2025-04-20"

// Credential is one caller credential. Its String, GoString, Format and
// MarshalJSON never reveal Value.
type Credential struct {
	Scheme Scheme
	Value  string
}

// IsZero reports whether there is no credential.
func (c Credential) IsZero() bool { return c.Scheme == SchemeNone || c.Value == "" }

// Extract reads the credential of a request: a non-empty x-api-key wins,
// else "Authorization: Bearer <token>" (scheme word case-insensitive), else none.
func Extract(h http.Header) Credential { panic("TODO") }

// SetAnthropic removes any auth headers from h and sets exactly the one of c's
// scheme (x-api-key, or Authorization: Bearer). A zero c leaves h without auth.
func (c Credential) SetAnthropic(h http.Header) { panic("TODO") }

// SetOpenAI removes any auth headers from h and sets Authorization: Bearer with
// c's value whatever its scheme.
func (c Credential) SetOpenAI(h http.Header) { panic("TODO") }

// EnsureOAuthBeta adds OAuthBeta to h's anthropic-beta values if c is a bearer
// credential and it is not already present (worker calls need it).
func (c Credential) EnsureOAuthBeta(h http.Header) { panic("TODO") }
