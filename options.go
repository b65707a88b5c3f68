package lore

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/dustin/go-humanize"

	"github.com/caddy-lore/caddy-lore/auth"
)

// Reading the module's option values (after placeholders are resolved in
// Provision). Errors name the option and never echo a secret.

// identityFunc evaluates the identity option per request: {env.*} was
// resolved in Provision, request placeholders ({http.request.header.*},
// {http.auth.user.id}, {http.request.tls.client.subject}) are resolved here
// from the request's replacer; unknown ones become empty. nil without the
// option.
func identityFunc(identity string) func(*http.Request) string {
	if strings.TrimSpace(identity) == "" {
		return nil
	}
	return func(r *http.Request) string {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if repl == nil {
			repl = caddy.NewReplacer()
		}
		return repl.ReplaceAll(identity, "")
	}
}

func parseUpstream(name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an http(s) URL with a host", name, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: %q must not have a query or fragment", name, raw)
	}
	return u, nil
}

func parseSize(raw string) (int64, error) {
	n, err := humanize.ParseBytes(raw)
	if err != nil || n == 0 || n > 1<<40 {
		return 0, fmt.Errorf("max_body: %q is not a size like 32MiB", raw)
	}
	return int64(n), nil
}

// parseCacheSize reads parse_cache: a size, or 0 for none (-1 to the
// handler, whose 0 means its own default).
func parseCacheSize(raw string) (int64, error) {
	if strings.TrimSpace(raw) == "0" {
		return -1, nil
	}
	n, err := humanize.ParseBytes(raw)
	if err != nil || n > 1<<40 {
		return 0, fmt.Errorf("parse_cache: %q is not a size like 64MiB (or 0)", raw)
	}
	if n == 0 {
		return -1, nil
	}
	return int64(n), nil
}

func parseDuration(name, raw string) (time.Duration, error) {
	d, err := caddy.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration like 720h", name, raw)
	}
	return d, nil
}

// parseWorkerCredential reads "<key>" or "<scheme> <value>" with scheme
// api-key or bearer. Errors never echo the value.
func parseWorkerCredential(raw string) (auth.Credential, error) {
	fields := strings.Fields(raw)
	switch len(fields) {
	case 0:
		return auth.Credential{}, nil
	case 1:
		return auth.Credential{Scheme: auth.SchemeAPIKey, Value: fields[0]}, nil
	case 2:
		switch strings.ToLower(fields[0]) {
		case "api-key", "api_key":
			return auth.Credential{Scheme: auth.SchemeAPIKey, Value: fields[1]}, nil
		case "bearer":
			return auth.Credential{Scheme: auth.SchemeBearer, Value: fields[1]}, nil
		}
	}
	return auth.Credential{}, errors.New("worker_credential: expected `<key>`, `api-key <key>` or `bearer <token>`")
}

func parseOnOff(name, raw string) (bool, error) {
	switch strings.ToLower(raw) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is neither on nor off", name, raw)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
