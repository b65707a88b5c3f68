package fakeupstream

import (
	"net/http"
	"strings"
)

// credential identifies the caller; prompt caches and batches are scoped to it.
type credential struct {
	ID     string // "key:<x-api-key>" or "oauth:<token>"
	Bearer bool
}

const oauthBeta = "oauth-2025-04-20"

// authAnthropic checks the credential and anthropic-version of an Anthropic
// route. Rules (in order):
//   - x-api-key present: must be one of APIKeys, else 401 "invalid x-api-key";
//   - else Authorization: Bearer T where T is one of APIKeys: that key, as if
//     sent in x-api-key (anthropic-sdk-go v2 sends keys this way);
//   - else Authorization: Bearer T: T must be one of OAuthTokens (else 401
//     "Invalid bearer token") and anthropic-beta must list oauth-2025-04-20
//     (else 401 "OAuth authentication is currently not supported.");
//   - else 401 "x-api-key header is required";
//   - then anthropic-version must be present, else 400
//     "anthropic-version: header is required".
func (s *Server) authAnthropic(r *http.Request) (credential, *apiError) {
	unauth := func(msg string) (credential, *apiError) {
		return credential{}, &apiError{http.StatusUnauthorized, "authentication_error", msg}
	}
	var c credential
	if k := r.Header.Get("x-api-key"); k != "" {
		if !s.keys[k] {
			return unauth("invalid x-api-key")
		}
		c = credential{ID: "key:" + k}
	} else if tok, ok := bearer(r); ok && s.keys[tok] {
		c = credential{ID: "key:" + tok}
	} else if ok {
		if !s.oauth[tok] {
			return unauth("Invalid bearer token")
		}
		if !hasBeta(r, oauthBeta) {
			return unauth("OAuth authentication is currently not supported.")
		}
		c = credential{ID: "oauth:" + tok, Bearer: true}
	} else {
		return unauth("x-api-key header is required")
	}
	if r.Header.Get("anthropic-version") == "" {
		return credential{}, invalidRequest("anthropic-version: header is required")
	}
	return c, nil
}

// authOpenAI checks "Authorization: Bearer" against APIKeys; it writes the
// OpenAI-shaped 401 and returns false on failure.
func (s *Server) authOpenAI(w http.ResponseWriter, r *http.Request) (credential, bool) {
	tok, ok := bearer(r)
	if !ok && s.opts.OpenAINoAuth {
		return credential{ID: "none"}, true // a vLLM or Ollama server without keys
	}
	if !ok {
		s.writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "", "")
		return credential{}, false
	}
	if !s.keys[tok] {
		s.writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error",
			"Incorrect API key provided: "+redact(tok)+". You can find your API key at https://platform.openai.com/account/api-keys.", "", "invalid_api_key")
		return credential{}, false
	}
	return credential{ID: "key:" + tok, Bearer: true}, true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// hasBeta reports whether any anthropic-beta header (comma-separated or
// repeated) lists name.
func hasBeta(r *http.Request, name string) bool {
	for _, v := range r.Header.Values("anthropic-beta") {
		for _, b := range strings.Split(v, ",") {
			if strings.TrimSpace(b) == name {
				return true
			}
		}
	}
	return false
}

func redact(tok string) string {
	if len(tok) <= 8 {
		return "****"
	}
	return tok[:3] + "*****" + tok[len(tok)-4:]
}
