package lore

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzCaddyfile: any `lore` block either parses or is refused with an error;
// nothing panics. Seeds are the directive's documented forms (README,
// examples/).
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"lore",
		"lore {\n}",
		"lore {\n\tredis redis.internal:6379 {\n\t\tusername lore\n\t\tpassword {env.REDIS_PASSWORD}\n\t\ttls\n\t\tkey_prefix lore:\n\t}\n\tcredential_key {env.LORE_CREDENTIAL_KEY}\n\tretention 720h\n\tmax_body 32MiB\n}",
		"lore {\n\tupstream https://api.anthropic.com\n\topenai_upstream https://api.openai.com\n\tworker_model claude-haiku-4-5\n\tworker_credential bearer {env.T}\n\tidle_timeout 60s\n\tidle_resume 5m\n\tknowledge off\n\trecall on\n\tparse_cache 0\n\tbatching {\n\t\tflush_interval 30s\n\t\tmax_items 50\n\t\tpoll_interval 60s\n\t\tmax_age 1h\n\t}\n}",
		"lore {\n\tbatching off\n\tredis a:1 b:2 {\n\t\tmaster_name m\n\t\tsentinel_password p\n\t\tdial_timeout 2s\n\t\tpool_size 10\n\t}\n}",
		"lore /v1/* {\n\tidentity {http.request.header.X-Forwarded-User}\n}",
		"lore {\n\tcredential_key {env.K}\n\told_credential_keys {env.K1} {env.K2}\n\topenai_worker_model gpt-5-mini\n\tdisable_metrics\n\tredis {\n\t\tdb {env.DB}\n\t\ttimeout 3s\n\t}\n}",
		"lore {\n\tunknown x\n}",
		"lore {\n\tmax_body\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		var l Lore
		_ = l.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	})
}
