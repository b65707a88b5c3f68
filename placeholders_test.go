package lore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Every value may be an {env.*} placeholder, the numbers and durations too:
// they reach Provision as text and are resolved there (docs/configuration.md,
// Directive).

func TestConfigValueJSON(t *testing.T) {
	var c RedisConfig
	in := `{"addresses":["a:1"],"db":3,"pool_size":"{env.P}","dial_timeout":1500000000,"timeout":"250ms"}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.DB != "3" || c.PoolSize != "{env.P}" || c.DialTimeout != "1500000000" || c.Timeout != "250ms" {
		t.Fatalf("decoded %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// Plain integers stay JSON numbers, the rest strings.
	for _, want := range []string{`"db":3`, `"pool_size":"{env.P}"`, `"dial_timeout":1500000000`, `"timeout":"250ms"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("%s lacks %s", out, want)
		}
	}
	t.Setenv("P", "7")
	repl := caddy.NewReplacer()
	cfg, err := c.resolve(func(s string) string { return repl.ReplaceKnown(s, "") })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != 3 || cfg.PoolSize != 7 || time.Duration(cfg.DialTimeout) != 1500*time.Millisecond || time.Duration(cfg.Timeout) != 250*time.Millisecond {
		t.Fatalf("resolved %+v", cfg)
	}
}

func TestRedisConfigResolveErrors(t *testing.T) {
	repl := caddy.NewReplacer()
	resolve := func(s string) string { return repl.ReplaceKnown(s, "") }
	t.Setenv("LORE_T_EMPTY", "")
	for _, tc := range []struct {
		env, field, wantErr string
	}{
		{"two", "db", `redis: db must be a non-negative integer, got "two"`},
		{"-1", "pool_size", `redis: pool_size must be a non-negative integer, got "-1"`},
		{"soon", "dial_timeout", `redis: dial_timeout: "soon" is not a duration`},
		{"-2s", "timeout", `redis: timeout must be a positive duration, got "-2s"`},
	} {
		t.Setenv("LORE_T_VALUE", tc.env)
		c := RedisConfig{Addresses: []string{"a:1"}, Password: "hunter2-secret"}
		*c.valueField(tc.field) = configValue("{env.LORE_T_VALUE}")
		_, err := c.resolve(resolve)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("%s=%q: error %v, want %q", tc.field, tc.env, err, tc.wantErr)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatal("error shows the password")
		}
	}
	// An unset or empty variable means the default.
	c := RedisConfig{Addresses: []string{"a:1"}, DB: "{env.LORE_T_EMPTY}", DialTimeout: "{env.LORE_T_UNSET_X}"}
	cfg, err := c.resolve(resolve)
	if err != nil || cfg.DB != 0 || cfg.DialTimeout != 0 {
		t.Fatalf("empty placeholders: %+v %v", cfg, err)
	}
}

// TestProvisionPlaceholderErrors: a placeholder that resolves to nonsense
// fails the config load with the option's name and the resolved value.
func TestProvisionPlaceholderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, value, wantErr string
		set                  func(*Lore, string)
	}{
		{"max_body", "huge", `max_body: "huge" is not a size`, func(l *Lore, v string) { l.MaxBody = v }},
		{"retention", "forever", `retention: "forever" is not a duration`, func(l *Lore, v string) { l.Retention = v }},
		{"idle_timeout", "-1s", "idle_timeout must not be negative", func(l *Lore, v string) { l.IdleTimeout = v }},
		{"parse_cache", "lots", `parse_cache: "lots" is not a size`, func(l *Lore, v string) { l.ParseCache = v }},
		{"db", "x", `redis: db must be a non-negative integer, got "x"`, func(l *Lore, v string) {
			l.Redis = &RedisConfig{Addresses: []string{"127.0.0.1:1"}, DB: configValue(v)}
		}},
		{"max_items", "0", "batching: max_items must be an integer in 1..100000", func(l *Lore, v string) {
			l.Batching = &BatchingConfig{MaxItems: configValue(v)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LORE_T_VALUE", tc.value)
			l := &Lore{CredentialKey: itSecret}
			tc.set(l, "{env.LORE_T_VALUE}")
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := l.Provision(ctx)
			_ = l.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Provision error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestIntegrationEnvPlaceholders provisions a Caddyfile whose every number
// and duration is an {env.*} placeholder and checks their effects: the redis
// db the state lands in, the TTL of the session's keys (retention), the body
// limit (max_body).
func TestIntegrationEnvPlaceholders(t *testing.T) {
	e := newITEnv(t)
	mr := miniredis.RunT(t)
	for k, v := range map[string]string{
		"LORE_IT_REDIS": mr.Addr(), "LORE_IT_DB": "5", "LORE_IT_POOL": "4", "LORE_IT_DIAL": "1s", "LORE_IT_RW": "900ms",
		"LORE_IT_KEY": itSecret, "LORE_IT_MAX_BODY": "64KiB", "LORE_IT_RETENTION": "49h", "LORE_IT_IDLE": "0",
		"LORE_IT_RESUME": "0", "LORE_IT_PARSE": "1MiB", "LORE_IT_FLUSH": "1h", "LORE_IT_POLL": "1h", "LORE_IT_AGE": "2h",
		"LORE_IT_MAX_ITEMS": "7", "LORE_IT_KNOWLEDGE": "off", "LORE_IT_RECALL": "off",
	} {
		t.Setenv(k, v)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(`redis {env.LORE_IT_REDIS} {
			db {env.LORE_IT_DB}
			pool_size {env.LORE_IT_POOL}
			dial_timeout {env.LORE_IT_DIAL}
			timeout {env.LORE_IT_RW}
		}
		credential_key {env.LORE_IT_KEY}
		max_body {env.LORE_IT_MAX_BODY}
		retention {env.LORE_IT_RETENTION}
		idle_timeout {env.LORE_IT_IDLE}
		idle_resume {env.LORE_IT_RESUME}
		parse_cache {env.LORE_IT_PARSE}
		knowledge {env.LORE_IT_KNOWLEDGE}
		recall {env.LORE_IT_RECALL}
		batching {
			flush_interval {env.LORE_IT_FLUSH}
			poll_interval {env.LORE_IT_POLL}
			max_age {env.LORE_IT_AGE}
			max_items {env.LORE_IT_MAX_ITEMS}
		}`), "caddyfile")

	sdkTurn(t, sdkClient(t), "placeholders everywhere")
	db := mr.DB(5)
	var sessionKeys []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(sessionKeys) == 0; time.Sleep(20 * time.Millisecond) {
		for _, k := range db.Keys() {
			if strings.HasPrefix(k, "lore:s:{") { // a session's keys; written just after the answer
				sessionKeys = append(sessionKeys, k)
			}
		}
	}
	if len(sessionKeys) == 0 {
		t.Fatalf("no session keys in redis db 5 (db 0 has %d keys)", len(mr.DB(0).Keys()))
	}
	if n := len(mr.DB(0).Keys()); n != 0 {
		t.Fatalf("%d keys in db 0, want all in db 5", n)
	}
	for _, k := range sessionKeys {
		if ttl := db.TTL(k); ttl <= 48*time.Hour || ttl > 49*time.Hour {
			t.Fatalf("key %s has TTL %v, want retention 49h", k, ttl)
		}
	}

	big := fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":%q}]}`, strings.Repeat("x", 70<<10))
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:9080/v1/messages", strings.NewReader(big))
	req.Header.Set("x-api-key", itKey)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("70 KiB body with max_body {env} = 64KiB: status %d, want 413", resp.StatusCode)
	}
}
