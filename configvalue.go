package lore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// configValue is a number or a duration as configured: text, so that an
// `{env.*}` placeholder can stand where the number goes. Provision resolves
// and parses it; the Caddyfile checks literal values when it is adapted.
//
// In JSON it is written as a number when it holds a plain integer (so
// `"db": 3` keeps its natural form) and as a string otherwise; it reads both.
// A duration given as a JSON number is nanoseconds, as with caddy.Duration.
type configValue string

// UnmarshalJSON accepts a JSON string or a JSON number.
func (v *configValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = configValue(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a number or a string, got %s", b)
	}
	*v = configValue(n.String())
	return nil
}

// MarshalJSON writes a plain integer as a number, anything else as a string.
func (v configValue) MarshalJSON() ([]byte, error) {
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && strconv.FormatInt(n, 10) == string(v) {
		return []byte(string(v)), nil
	}
	return json.Marshal(string(v))
}

// hasPlaceholder reports whether s holds a `{...}` placeholder, which only
// Provision can resolve.
func hasPlaceholder(s string) bool { return strings.Contains(s, "{") }

// parseCount reads a non-negative integer (db, pool_size); "" is 0, the
// default.
func parseCount(name, raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer, got %q", name, raw)
	}
	return n, nil
}

// parsePositiveDuration reads a duration that must be positive (the redis
// timeouts); "" is 0, the default. A plain integer is nanoseconds, as a JSON
// number is for caddy.Duration.
func parsePositiveDuration(name, raw string) (time.Duration, error) {
	if raw == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("%s must be a positive duration, got %q", name, raw)
		}
		return time.Duration(n), nil
	}
	d, err := parseDuration(name, raw)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s must be a positive duration, got %q", name, raw)
	}
	return d, nil
}
