// Package auth handles callers' credentials: extraction from request headers,
// the upstream headers of each scheme, keyed non-reversible fingerprints, and
// encryption at rest (AES-256-GCM with HKDF-derived keys).
package auth

import (
	"net/http"
	"strings"
)

// Scheme is how a credential authenticates.
type Scheme string

const (
	SchemeNone   Scheme = ""
	SchemeAPIKey Scheme = "api-key" // x-api-key
	SchemeBearer Scheme = "bearer"  // Authorization: Bearer (OAuth subscription tokens among others)
)

// OAuthBeta is the anthropic-beta value bearer (OAuth) calls need.
const OAuthBeta = "oauth-2025-04-20"

// Header names, canonical form. Only the two credential carriers are treated
// as auth headers: Proxy-Authorization is hop-by-hop and never forwarded.
const (
	headerAPIKey        = "X-Api-Key"
	headerAuthorization = "Authorization"
	headerBeta          = "Anthropic-Beta"
)

// Provider is the upstream a credential was accepted by, and the only one it
// is ever sent to (docs/sessions-and-identity.md, Provider binding). The zero value is Anthropic, so credentials
// sealed before providers existed keep meaning what they meant.
type Provider uint8

const (
	ProviderAnthropic Provider = iota // `upstream`
	ProviderOpenAI                    // `openai_upstream`
)

// String names the provider for logs and metrics labels.
func (p Provider) String() string {
	if p == ProviderOpenAI {
		return "openai"
	}
	return "anthropic"
}

// Credential is one caller credential and the provider it belongs to. Its
// String, GoString, Format and MarshalJSON never reveal Value.
type Credential struct {
	Scheme   Scheme
	Value    string
	Provider Provider
}

// IsZero reports whether there is no credential.
func (c Credential) IsZero() bool { return c.Scheme == SchemeNone || c.Value == "" }

// Extract reads the credential of a request: a non-empty x-api-key wins,
// else "Authorization: Bearer <token>" (scheme word case-insensitive), else none.
//
// A Bearer token that is an Anthropic API key (sk-ant-api…) is an api-key
// credential: anthropic-sdk-go v2 sends keys that way, and OpenAI-format
// clients can send them no other way. It is the same key as when it arrives in
// x-api-key — same namespace, batch-capable, presented upstream as x-api-key,
// and never given the OAuth beta that subscription tokens need.
func Extract(h http.Header) Credential {
	// Several x-api-key lines are unusual; the first non-empty one is what a
	// single-valued reader upstream would most likely have used too.
	for _, v := range h.Values(headerAPIKey) {
		if v = strings.TrimSpace(v); v != "" {
			return Credential{Scheme: SchemeAPIKey, Value: v}
		}
	}
	if token, ok := parseBearer(h.Get(headerAuthorization)); ok {
		if strings.HasPrefix(token, apiKeyPrefix) {
			return Credential{Scheme: SchemeAPIKey, Value: token}
		}
		return Credential{Scheme: SchemeBearer, Value: token}
	}
	return Credential{}
}

// apiKeyPrefix starts every Anthropic API key (OAuth tokens are sk-ant-oat…).
const apiKeyPrefix = "sk-ant-api"

// parseBearer accepts "Bearer", one or more spaces, and a token without
// whitespace (RFC 6750 b64token is stricter; upstream decides validity).
// Anything else — Basic, a bare word, a token with inner spaces — is not a
// bearer credential, so it is never stored nor forwarded as one.
func parseBearer(v string) (string, bool) {
	v = strings.TrimSpace(v)
	const word = "bearer"
	if len(v) <= len(word) || !strings.EqualFold(v[:len(word)], word) || v[len(word)] != ' ' {
		return "", false
	}
	token := strings.TrimLeft(v[len(word):], " ")
	if token == "" || strings.ContainsFunc(token, isSpace) {
		return "", false
	}
	return token, true
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

// removeAuth drops every header that could carry a caller credential, so a
// request never reaches an upstream with two (possibly different) ones.
func removeAuth(h http.Header) {
	h.Del(headerAPIKey)
	h.Del(headerAuthorization)
}

// SetUpstream sets c's auth header in the form of c's own provider: the one
// place that decides how a stored credential is presented, so a worker call or
// a batch can never present it to the other provider's upstream in its form.
func (c Credential) SetUpstream(h http.Header) {
	if c.Provider == ProviderOpenAI {
		c.SetOpenAI(h)
		return
	}
	c.SetAnthropic(h)
}

// RouteOf is the passthrough routing rule (docs/sessions-and-identity.md,
// Provider binding): a request goes to the
// Anthropic upstream when it carries x-api-key, an anthropic-version header,
// or a Bearer token starting with "sk-ant-" (an Anthropic API key or OAuth
// token); anything else is an OpenAI-compatible client's and goes to
// openai_upstream. An OpenAI SDK's GET /v1/models must not hand its key to
// Anthropic, and Anthropic SDKs always send anthropic-version.
func RouteOf(h http.Header) Provider {
	for _, v := range h.Values(headerAPIKey) {
		if strings.TrimSpace(v) != "" {
			return ProviderAnthropic
		}
	}
	if strings.TrimSpace(h.Get("Anthropic-Version")) != "" {
		return ProviderAnthropic
	}
	if token, ok := parseBearer(h.Get(headerAuthorization)); ok && strings.HasPrefix(token, "sk-ant-") {
		return ProviderAnthropic
	}
	return ProviderOpenAI
}

// SetAnthropic removes any auth headers from h and sets exactly the one of c's
// scheme (x-api-key, or Authorization: Bearer). A zero c leaves h without auth.
func (c Credential) SetAnthropic(h http.Header) {
	removeAuth(h)
	if c.IsZero() {
		return
	}
	switch c.Scheme {
	case SchemeAPIKey:
		h.Set(headerAPIKey, c.Value)
	case SchemeBearer:
		h.Set(headerAuthorization, "Bearer "+c.Value)
	}
}

// SetOpenAI removes any auth headers from h and sets Authorization: Bearer with
// c's value whatever its scheme.
func (c Credential) SetOpenAI(h http.Header) {
	removeAuth(h)
	if c.IsZero() {
		return
	}
	h.Set(headerAuthorization, "Bearer "+c.Value)
}

// EnsureOAuthBeta adds OAuthBeta to h's anthropic-beta values if c is a bearer
// credential and it is not already present (worker calls need it).
//
// Values may be comma-separated, repeated, or both; all are checked. When the
// value must be added to existing ones they are folded into one
// comma-separated line (RFC 9110 makes the two forms equivalent, and the comma
// form is the one Anthropic documents), so no server that reads only the first
// line can miss it.
func (c Credential) EnsureOAuthBeta(h http.Header) {
	if c.IsZero() || c.Scheme != SchemeBearer {
		return
	}
	var values []string
	for _, line := range h.Values(headerBeta) {
		for _, v := range strings.Split(line, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if strings.EqualFold(v, OAuthBeta) {
				return
			}
			values = append(values, v)
		}
	}
	h.Set(headerBeta, strings.Join(append(values, OAuthBeta), ","))
}
