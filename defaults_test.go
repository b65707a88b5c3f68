package lore

import (
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/idle"
	"github.com/caddy-lore/caddy-lore/store"
)

// The module's defaults are strings (placeholders work in them); the
// packages that apply them have their own, typed. They must agree, or a
// setting left out and one written out as its documented default would
// behave differently.
func TestDefaultsAgreeWithThePackages(t *testing.T) {
	if DefaultUpstream != batching.DefaultUpstream {
		t.Errorf("upstream: module %q, batching %q", DefaultUpstream, batching.DefaultUpstream)
	}
	for _, c := range []struct {
		name   string
		module string
		pkg    time.Duration
	}{
		{"retention", DefaultRetention, store.DefaultRetention},
		{"idle_timeout", DefaultIdleTimeout, idle.DefaultIdleTimeout},
	} {
		d, err := time.ParseDuration(c.module)
		if err != nil || d != c.pkg {
			t.Errorf("%s: module %q (%v, %v), package %v", c.name, c.module, d, err, c.pkg)
		}
	}
}
