package handler

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-lore/caddy-lore/auth"
)

// identityKey carries a request's evaluated identity from ServeHTTP to
// identify, through the request context.
type identityKey struct{}

// withIdentity evaluates the operator's identity for r
// (docs/sessions-and-identity.md, Identity). Without an identity option it
// returns r as is. With one, an empty value means whatever was meant to name
// the caller (forward_auth's header, a client certificate) did not: the
// request is refused with 401 in the route's error shape rather than served in
// some shared or credential namespace.
func (h *Handler) withIdentity(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if h.cfg.Identity == nil {
		return r, true
	}
	id := strings.TrimSpace(h.cfg.Identity(r))
	if id == "" {
		writeError(w, routeFlavor(r), http.StatusUnauthorized,
			"this gateway requires an identity, and none came with the request")
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id)), true
}

// identityOf returns the identity withIdentity put in ctx, "" without one.
func identityOf(ctx context.Context) string {
	id, _ := ctx.Value(identityKey{}).(string)
	return id
}

// routeFlavor is the error shape of a /v1 request before it is routed:
// OpenAI's for chat completions and for passthrough requests that go to
// openai_upstream, Anthropic's otherwise.
func routeFlavor(r *http.Request) flavor {
	if r.URL.Path == "/v1/chat/completions" {
		return openAIFlavor
	}
	if r.URL.Path != "/v1/messages" && auth.RouteOf(r.Header) == auth.ProviderOpenAI {
		return openAIFlavor
	}
	return anthropicFlavor
}

// namespace is where a turn's state lives: the person's when the operator
// names one, else the credential's. ok is false for a request with neither
// (docs/sessions-and-identity.md, Namespaces): it goes through without a
// session, so callers of a no-auth upstream, or behind a proxy that adds its
// own key, never share state.
func (h *Handler) namespace(ctx context.Context, cred auth.Credential) (ns string, ok bool) {
	if id := identityOf(ctx); id != "" {
		return h.cfg.Keys.IdentityNamespace(id), true
	}
	if cred.IsZero() {
		return "", false
	}
	return h.cfg.Keys.Namespace(cred), true
}

// personOf is whom a turn's usage is counted for (GET /lore/usage): the
// identity when the operator configured one, else fp, the credential's
// 12-hex keyed fingerprint (Keyring.Fingerprint), never the credential.
func personOf(ctx context.Context, fp string) string {
	if id := identityOf(ctx); id != "" {
		return id
	}
	return fp
}
