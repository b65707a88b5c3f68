package lore

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Lore
		wantErr string
	}{
		{name: "empty", input: `lore`, want: Lore{}},
		{name: "empty block", input: "lore {\n}", want: Lore{}},
		{
			name: "all options",
			input: `lore {
				upstream https://anthropic.internal:8443
				openai_upstream http://127.0.0.1:9000/v1base
				credential_key {env.LORE_CREDENTIAL_KEY}
				worker_credential bearer {env.SVC_TOKEN}
				max_body 8MiB
				retention 48h
				idle_resume 0
				redis 10.0.0.1:6379 10.0.0.2:6379 {
					username lore
					password {env.REDIS_PASSWORD}
					db 3
					tls
					key_prefix team:
					master_name mymaster
					sentinel_username s
					sentinel_password sp
					dial_timeout 1s
					timeout 500ms
					pool_size 20
				}
			}`,
			want: Lore{
				Upstream:         "https://anthropic.internal:8443",
				OpenAIUpstream:   "http://127.0.0.1:9000/v1base",
				CredentialKey:    "{env.LORE_CREDENTIAL_KEY}",
				WorkerCredential: "bearer {env.SVC_TOKEN}",
				MaxBody:          "8MiB",
				Retention:        "48h",
				IdleResume:       "0",
				Redis: &RedisConfig{
					Addresses: []string{"10.0.0.1:6379", "10.0.0.2:6379"},
					Username:  "lore", Password: "{env.REDIS_PASSWORD}", DB: "3", TLS: true,
					KeyPrefix: "team:", MasterName: "mymaster", SentinelUsername: "s", SentinelPassword: "sp",
					DialTimeout: "1s", Timeout: "500ms", PoolSize: "20",
				},
			},
		},
		{name: "redis single line", input: "lore {\nredis localhost:6379\n}",
			want: Lore{Redis: &RedisConfig{Addresses: []string{"localhost:6379"}}}},
		{name: "redis cluster", input: "lore {\nredis a:1 {\ncluster\n}\n}",
			want: Lore{Redis: &RedisConfig{Addresses: []string{"a:1"}, Cluster: true}}},
		{name: "worker credential key", input: "lore {\nworker_credential sk-x\n}", want: Lore{WorkerCredential: "sk-x"}},
		{name: "unknown subdirective", input: "lore {\nupstreams http://x\n}", wantErr: `unrecognized lore subdirective "upstreams"`},
		{name: "duplicate", input: "lore {\nretention 1h\nretention 2h\n}", wantErr: "retention specified more than once"},
		{name: "argument on directive", input: `lore foo`, wantErr: "wrong argument count"},
		{name: "missing value", input: "lore {\nupstream\n}", wantErr: "wrong argument count"},
		{name: "too many values", input: "lore {\nupstream http://a http://b\n}", wantErr: "wrong argument count"},
		{name: "bad url", input: "lore {\nupstream ftp://x\n}", wantErr: "not an http(s) URL"},
		{name: "bad size", input: "lore {\nmax_body lots\n}", wantErr: "not a size"},
		{name: "bad duration", input: "lore {\nretention forever\n}", wantErr: "not a duration"},
		{name: "redis without address", input: "lore {\nredis {\ndb 1\n}\n}", wantErr: "at least one address"},
		{name: "redis unknown option", input: "lore {\nredis a:1 {\nfoo bar\n}\n}", wantErr: `unrecognized redis option "foo"`},
		{name: "redis bad db", input: "lore {\nredis a:1 {\ndb -1\n}\n}", wantErr: "db must be a non-negative integer"},
		{name: "redis bad timeout", input: "lore {\nredis a:1 {\ntimeout -1s\n}\n}", wantErr: "timeout must be a positive duration"},
		{name: "batching off", input: "lore {\nbatching off\n}", want: Lore{Batching: &BatchingConfig{Off: true}}},
		{name: "batching block", input: "lore {\nbatching {\nflush_interval 2s\nmax_items 100\npoll_interval 3s\nmax_age 10m\n}\n}",
			want: Lore{Batching: &BatchingConfig{FlushInterval: "2s", MaxItems: "100", PollInterval: "3s", MaxAge: "10m"}}},
		{name: "batching bad word", input: "lore {\nbatching maybe\n}", wantErr: "expected `off` or a block"},
		{name: "batching max_items range", input: "lore {\nbatching {\nmax_items 0\n}\n}", wantErr: "max_items must be an integer in 1..100000"},
		{name: "batching max_items too big", input: "lore {\nbatching {\nmax_items 100001\n}\n}", wantErr: "max_items must be an integer"},
		{name: "batching negative", input: "lore {\nbatching {\nmax_age -1s\n}\n}", wantErr: "must be positive"},
		{name: "batching unknown", input: "lore {\nbatching {\nsize 1\n}\n}", wantErr: `unrecognized batching option "size"`},
		{name: "placeholder durations deferred", input: "lore {\nretention {env.RET}\n}", want: Lore{Retention: "{env.RET}"}},
		{name: "idle timeout", input: "lore {\nidle_timeout 2s\nidle_resume 5s\n}", want: Lore{IdleTimeout: "2s", IdleResume: "5s"}},
		{name: "idle timeout off", input: "lore {\nidle_timeout 0\n}", want: Lore{IdleTimeout: "0"}},
		{name: "idle timeout placeholder", input: "lore {\nidle_timeout {env.IDLE}\n}", want: Lore{IdleTimeout: "{env.IDLE}"}},
		{name: "idle timeout bad", input: "lore {\nidle_timeout soon\n}", wantErr: `idle_timeout: "soon" is not a duration`},
		{name: "knowledge off", input: "lore {\nknowledge off\n}", want: Lore{Knowledge: "off"}},
		{name: "knowledge placeholder", input: "lore {\nknowledge {env.KN}\n}", want: Lore{Knowledge: "{env.KN}"}},
		{name: "knowledge bad", input: "lore {\nknowledge maybe\n}", wantErr: `knowledge: "maybe" is neither on nor off`},
		{name: "recall off", input: "lore {\nrecall off\n}", want: Lore{Recall: "off"}},
		{name: "parse cache", input: "lore {\nparse_cache 8MiB\n}", want: Lore{ParseCache: "8MiB"}},
		{name: "parse cache off", input: "lore {\nparse_cache 0\n}", want: Lore{ParseCache: "0"}},
		{name: "openai worker model", input: "lore {\nopenai_worker_model gpt-4.1-mini\n}", want: Lore{OpenAIWorkerModel: "gpt-4.1-mini"}},
		{name: "identity", input: "lore {\nidentity {http.request.header.X-Forwarded-User}\n}", want: Lore{Identity: "{http.request.header.X-Forwarded-User}"}},
		{name: "identity twice", input: "lore {\nidentity a\nidentity b\n}", wantErr: "identity specified more than once"},
		{name: "identity no value", input: "lore {\nidentity\n}", wantErr: "wrong argument count"},
		{name: "parse cache bad", input: "lore {\nparse_cache lots\n}", wantErr: `parse_cache: "lots" is not a size`},
		{name: "recall bad", input: "lore {\nrecall 1\n}", wantErr: `recall: "1" is neither on nor off`},
		{name: "redis placeholders in numbers and durations", input: "lore {\nredis {env.R} {\ndb {env.DB}\npool_size {env.POOL}\ndial_timeout {env.DIAL}\ntimeout {env.RW}\n}\n}",
			want: Lore{Redis: &RedisConfig{Addresses: []string{"{env.R}"}, DB: "{env.DB}", PoolSize: "{env.POOL}", DialTimeout: "{env.DIAL}", Timeout: "{env.RW}"}}},
		{name: "redis bad pool_size", input: "lore {\nredis a:1 {\npool_size many\n}\n}", wantErr: "pool_size must be a non-negative integer"},
		{name: "redis timeout without unit", input: "lore {\nredis a:1 {\ndial_timeout 5\n}\n}", wantErr: "dial_timeout must be a positive duration"},
		{name: "batching placeholders", input: "lore {\nbatching {\nmax_items {env.MAX}\nflush_interval {env.FLUSH}\n}\n}",
			want: Lore{Batching: &BatchingConfig{MaxItems: "{env.MAX}", FlushInterval: "{env.FLUSH}"}}},
		{name: "every value a placeholder", input: "lore {\nmax_body {env.A}\nparse_cache {env.B}\nidle_resume {env.C}\nrecall {env.D}\nupstream {env.E}\n}",
			want: Lore{MaxBody: "{env.A}", ParseCache: "{env.B}", IdleResume: "{env.C}", Recall: "{env.D}", Upstream: "{env.E}"}},
		{name: "knowledge no value", input: "lore {\nknowledge\n}", wantErr: "wrong argument count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Lore
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			assertLoreEqual(t, got, tc.want)
		})
	}
}

func assertLoreEqual(t *testing.T, got, want Lore) {
	t.Helper()
	if got.Upstream != want.Upstream || got.OpenAIUpstream != want.OpenAIUpstream ||
		got.CredentialKey != want.CredentialKey || got.WorkerCredential != want.WorkerCredential ||
		got.MaxBody != want.MaxBody || got.Retention != want.Retention || got.IdleResume != want.IdleResume ||
		got.IdleTimeout != want.IdleTimeout {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(got.Batching, want.Batching) {
		t.Fatalf("batching: got %+v want %+v", got.Batching, want.Batching)
	}
	if (got.Redis == nil) != (want.Redis == nil) {
		t.Fatalf("redis: got %v want %v", got.Redis, want.Redis)
	}
	if got.Redis == nil {
		return
	}
	if g, w := *got.Redis, *want.Redis; !reflect.DeepEqual(g, w) {
		t.Fatalf("redis: got %#v\nwant %#v", g, w)
	}
}

func TestParseWorkerCredential(t *testing.T) {
	for _, tc := range []struct {
		in, scheme, value string
		err               bool
	}{
		{"", "", "", false},
		{"sk-1", "api-key", "sk-1", false},
		{"api-key sk-2", "api-key", "sk-2", false},
		{"Bearer tok", "bearer", "tok", false},
		{"basic xyz", "", "", true},
		{"a b c", "", "", true},
	} {
		c, err := parseWorkerCredential(tc.in)
		if (err != nil) != tc.err {
			t.Fatalf("%q: err = %v", tc.in, err)
		}
		if err != nil {
			if strings.Contains(err.Error(), "xyz") {
				t.Fatalf("error echoes the secret: %v", err)
			}
			continue
		}
		if string(c.Scheme) != tc.scheme || c.Value != tc.value {
			t.Fatalf("%q: got %s/%q", tc.in, c.Scheme, c.Value)
		}
	}
}
