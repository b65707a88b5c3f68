package handler

import (
	"net/http"
	"path"
	"strings"
)

// apiPath returns the cleaned form of a /v1 request path (dot segments
// resolved, repeated slashes collapsed, a trailing slash kept) and whether
// it is still under /v1. The path is appended to the upstream's base path,
// so `/v1/%2e%2e/…` forwarded as it is would climb out of a base such as
// https://proxy.internal/anthropic on any server that resolves dot
// segments. A backslash, which some servers read as a slash, never belongs
// in an API path.
func apiPath(p string) (string, bool) {
	if strings.ContainsRune(p, '\\') {
		return "", false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c, c == "/v1" || strings.HasPrefix(c, "/v1/")
}

// cleanAPIPath rewrites r's path to its clean form, or answers 400 when the
// path leaves /v1; ok is false when it answered.
func cleanAPIPath(w http.ResponseWriter, r *http.Request) bool {
	clean, ok := apiPath(r.URL.Path)
	if !ok {
		writeError(w, anthropicFlavor, http.StatusBadRequest, "The request path must stay under /v1/: dot segments that leave it are not forwarded.")
		return false
	}
	if clean != r.URL.Path || r.URL.RawPath != "" {
		// Forwarded as cleaned and re-escaped: the upstream sees the path
		// the gateway routed on.
		r.URL.Path, r.URL.RawPath = clean, ""
	}
	return true
}
