package lore

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// caddyJSONSource is the Caddyfile whose adapted JSON examples/caddy.json is.
const caddyJSONSource = "examples/redis.Caddyfile"

// TestExamples adapts every Caddyfile in examples/ and validates it as
// `caddy validate` does (every module provisioned, then cleaned up), and
// checks that examples/caddy.json is exactly the JSON of caddyJSONSource,
// byte for byte as `caddy adapt --pretty` writes it.
//
// Redis addresses are pointed at a local miniredis before validating: the
// examples name private-network hosts, and a provisioned lore starts
// background work that would dial them.
func TestExamples(t *testing.T) {
	t.Setenv("LORE_CREDENTIAL_KEY", strings.Repeat("ab", 32))
	t.Setenv("REDIS_PASSWORD", "example-password")
	t.Setenv("SENTINEL_PASSWORD", "example-password")
	mr := miniredis.RunT(t)

	files, err := filepath.Glob("examples/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	adapted := map[string][]byte{}
	for _, f := range files {
		if !strings.HasSuffix(f, "Caddyfile") && !strings.HasSuffix(f, ".json") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfgJSON := raw
			if strings.HasSuffix(f, "Caddyfile") {
				cfgJSON = adaptCaddyfile(t, f, raw)
				adapted[f] = cfgJSON
			}
			validateConfig(t, cfgJSON, mr.Addr())
		})
	}

	want, ok := adapted[caddyJSONSource]
	if !ok {
		t.Fatalf("%s was not adapted", caddyJSONSource)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, want, "", "\t"); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	got, err := os.ReadFile("examples/caddy.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pretty.Bytes()) {
		t.Fatalf("examples/caddy.json is not the JSON of %s; regenerate it with\n"+
			"  go run ./cmd/caddy adapt --config %s --pretty > examples/caddy.json\nwant:\n%s", caddyJSONSource, caddyJSONSource, pretty.Bytes())
	}
}

// adaptCaddyfile adapts like `caddy adapt` and fails on any warning.
func adaptCaddyfile(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": name})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w.String())
	}
	return out
}

// validateConfig runs caddy.Validate on a config whose lore redis addresses
// are replaced by addr.
func validateConfig(t *testing.T, cfgJSON []byte, addr string) {
	t.Helper()
	var generic any
	if err := json.Unmarshal(cfgJSON, &generic); err != nil {
		t.Fatalf("config JSON: %v", err)
	}
	loreHandlers := 0
	walkJSON(generic, func(m map[string]any) {
		if m["handler"] != "lore" {
			return
		}
		loreHandlers++
		if r, ok := m["redis"].(map[string]any); ok {
			if as, ok := r["addresses"].([]any); ok {
				for i := range as {
					as[i] = addr
				}
			}
		}
	})
	if loreHandlers == 0 {
		t.Fatal("no lore handler in the config")
	}
	local, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(mustConfig(t, local)); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// walkJSON calls fn on every object in v.
func walkJSON(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walkJSON(c, fn)
		}
	case []any:
		for _, c := range x {
			walkJSON(c, fn)
		}
	}
}

func mustConfig(t *testing.T, raw []byte) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	return &cfg
}
