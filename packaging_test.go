package lore

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"gopkg.in/yaml.v3"
)

// The packaging files (Dockerfile, compose.yaml, the systemd unit) cannot be
// run without a Docker engine or systemd; scripts/docker.sh builds the image
// where an engine runs. These tests check, everywhere, what they promise.

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 || !strings.HasPrefix(froms[0][1], "golang:") || !strings.Contains(froms[0][1], "${GO_VERSION}") {
		t.Fatalf("want two stages, the first on the official Go image: %v", froms)
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) != 1 || users[0][1] == "root" || users[0][1] == "0" {
		t.Fatalf("the runtime stage must run as a non-root user: %v", users)
	}
	if strings.Index(df, "USER ") < strings.LastIndex(df, "FROM ") {
		t.Fatal("USER is not in the runtime stage")
	}
	build, err := os.ReadFile("scripts/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The image is built exactly as scripts/build.sh builds bin/caddy.
	for _, v := range []string{"CADDY_VERSION", "XCADDY_VERSION"} {
		m := regexp.MustCompile(v + `:-(v[0-9.]+)`).FindStringSubmatch(string(build))
		if len(m) < 2 || !strings.Contains(df, "ARG "+v+"="+m[1]) {
			t.Fatalf("%s: scripts/build.sh has %v, the Dockerfile must pin the same", v, m)
		}
	}
	if !strings.Contains(df, "--with github.com/caddy-lore/caddy-lore@v0.0.0=.") {
		t.Fatal("the Dockerfile does not build this checkout with xcaddy")
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--\S+ )?(\S+) `).FindAllStringSubmatch(df, -1) {
		if m[1] == "." || strings.HasPrefix(m[1], "/") {
			continue
		}
		for _, f := range strings.Fields(m[1]) {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("COPY %s: %v", f, err)
			}
		}
	}
}

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build       string            `yaml:"build"`
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Command     []string          `yaml:"command"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	lore, redis := c.Services["lore"], c.Services["redis"]
	if lore.Build != "." {
		t.Fatalf("lore is not built from this checkout: %q", lore.Build)
	}
	fromEnv := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`)
	for _, k := range []string{"LORE_CREDENTIAL_KEY", "REDIS_PASSWORD"} {
		if !fromEnv.MatchString(lore.Environment[k]) {
			t.Errorf("lore %s = %q: want it required from the environment (${VAR:?message})", k, lore.Environment[k])
		}
	}
	if !fromEnv.MatchString(redis.Environment["REDIS_PASSWORD"]) {
		t.Errorf("redis REDIS_PASSWORD = %q: want it from the environment", redis.Environment["REDIS_PASSWORD"])
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "requirepass") || !strings.Contains(cmd, "$$REDIS_PASSWORD") {
		t.Errorf("redis does not require the password: %q", cmd)
	}
	if len(redis.Volumes) == 0 || !strings.HasSuffix(redis.Volumes[0], ":/data") {
		t.Errorf("redis keeps no volume: %v", redis.Volumes)
	} else if _, ok := c.Volumes[strings.Split(redis.Volumes[0], ":")[0]]; !ok {
		t.Errorf("redis volume %q is not a named volume", redis.Volumes[0])
	}
	if !strings.HasPrefix(lore.Environment["REDIS_ADDRESS"], "redis:") {
		t.Errorf("lore does not use the redis service: %q", lore.Environment["REDIS_ADDRESS"])
	}
	for _, p := range lore.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is published beyond the host's loopback", p)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("examples/systemd/caddy-lore.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	if u := unit["User"]; len(u) != 1 || u[0] == "root" {
		t.Fatalf("User=%v: want one non-root user", u)
	}
	exec := strings.Join(unit["ExecStart"], " ")
	if !strings.Contains(exec, "caddy run --config /etc/caddy/Caddyfile") || strings.Contains(exec, "--environ") {
		t.Fatalf("ExecStart=%q: want caddy run on /etc/caddy/Caddyfile, without --environ (it prints secrets)", exec)
	}
	if len(unit["EnvironmentFile"]) != 1 {
		t.Fatal("no EnvironmentFile for the credential key")
	}
}

// TestDockerCaddyfileEmbedded: the image's Caddyfile without REDIS_ADDRESS
// and LORE_CREDENTIAL_KEY runs on the embedded store (TestExamples covers it
// with Redis).
func TestDockerCaddyfileEmbedded(t *testing.T) {
	t.Setenv("REDIS_ADDRESS", "")
	t.Setenv("LORE_CREDENTIAL_KEY", "")
	body, err := os.ReadFile("examples/docker.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "docker.Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(mustConfig(t, out)); err != nil {
		t.Fatalf("validate without Redis: %v", err)
	}
}
