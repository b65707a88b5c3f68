package auth

import (
	"net/http"
	"testing"
)

// The passthrough routing rule (docs/sessions-and-identity.md, Provider binding).
func TestRouteOf(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want Provider
	}{
		{"x-api-key", hdr("x-api-key", "anything"), ProviderAnthropic},
		{"anthropic-version", hdr("anthropic-version", "2023-06-01", "Authorization", "Bearer sk-proj-1"), ProviderAnthropic},
		{"sk-ant bearer", hdr("Authorization", "Bearer sk-ant-oat01-x"), ProviderAnthropic},
		{"sk-ant api key as bearer", hdr("Authorization", "Bearer sk-ant-api03-x"), ProviderAnthropic},
		{"openai key", hdr("Authorization", "Bearer sk-proj-1"), ProviderOpenAI},
		{"openrouter key", hdr("Authorization", "Bearer sk-or-v1-x"), ProviderOpenAI},
		{"blank x-api-key", hdr("x-api-key", " ", "Authorization", "Bearer sk-proj-1"), ProviderOpenAI},
		{"nothing", hdr(), ProviderOpenAI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RouteOf(tt.h); got != tt.want {
				t.Fatalf("RouteOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetUpstreamUsesTheProvidersForm(t *testing.T) {
	h := hdr("x-api-key", "stale", "Authorization", "Bearer stale")
	Credential{Scheme: SchemeAPIKey, Value: "k", Provider: ProviderOpenAI}.SetUpstream(h)
	if h.Get("X-Api-Key") != "" || h.Get("Authorization") != "Bearer k" {
		t.Fatalf("openai api-key: %v", h)
	}
	h = hdr()
	Credential{Scheme: SchemeAPIKey, Value: "k"}.SetUpstream(h)
	if h.Get("X-Api-Key") != "k" || h.Get("Authorization") != "" {
		t.Fatalf("anthropic api-key: %v", h)
	}
}

// The same key accepted by the two providers lives in two namespaces, so
// its sessions and batch groups never mix; Anthropic namespaces are the
// ones they were before providers were recorded.
func TestNamespaceSeparatesProviders(t *testing.T) {
	k := mustKeyring(t, secretA)
	a := Credential{Scheme: SchemeBearer, Value: "tok"}
	o := Credential{Scheme: SchemeBearer, Value: "tok", Provider: ProviderOpenAI}
	if k.Namespace(a) == k.Namespace(o) || k.Fingerprint(a) == k.Fingerprint(o) {
		t.Fatal("one namespace for two providers")
	}
}

func TestIdentityNamespace(t *testing.T) {
	k := mustKeyring(t, secretA)
	if k.IdentityNamespace("") != "" {
		t.Fatal("empty identity has a namespace")
	}
	alice := k.IdentityNamespace("alice")
	if alice == "" || alice != k.IdentityNamespace("alice") || alice == k.IdentityNamespace("bob") {
		t.Fatal("identity namespaces are not a function of the identity")
	}
	// No credential whose value is the identity shares it.
	for _, c := range []Credential{{Scheme: SchemeAPIKey, Value: "alice"}, {Scheme: SchemeBearer, Value: "alice"}} {
		if k.Namespace(c) == alice {
			t.Fatal("identity and credential namespaces collide")
		}
	}
	if mustKeyring(t, secretB).IdentityNamespace("alice") == alice {
		t.Fatal("identity namespace does not depend on the key")
	}
}
