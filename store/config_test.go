package store

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

const (
	pw  = "hunter2-REDIS-PASSWORD"
	spw = "sentinel-PASSWORD-42"
)

func TestConfigString(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, `embedded(key_prefix="lore:")`},
		{Config{KeyPrefix: "x:"}, `embedded(key_prefix="x:")`},
		{Config{Addresses: []string{"r:6379"}, Username: "u", Password: pw, DB: 2, TLS: true},
			`redis(address=r:6379 username="u" password=redacted db=2 tls=true key_prefix="lore:")`},
		{Config{Addresses: []string{"a:1", "b:2"}},
			`redis(cluster addresses=[a:1 b:2] db=0 tls=false key_prefix="lore:")`},
		{Config{Addresses: []string{"a:1"}, Cluster: true, Password: pw},
			`redis(cluster addresses=[a:1] password=redacted db=0 tls=false key_prefix="lore:")`},
		{Config{Addresses: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", Password: pw,
			SentinelUsername: "su", SentinelPassword: spw},
			`redis(sentinel master="mymaster" sentinels=[s1:26379 s2:26379] password=redacted sentinel_username="su" sentinel_password=redacted db=0 tls=false key_prefix="lore:")`},
	}
	for _, tt := range tests {
		if got := tt.cfg.String(); got != tt.want {
			t.Errorf("String =\n %s\nwant\n %s", got, tt.want)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			for _, v := range []any{tt.cfg, &tt.cfg, struct{ C Config }{tt.cfg}} {
				out := fmt.Sprintf(verb, v)
				if strings.Contains(out, pw) || strings.Contains(out, spw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
					t.Errorf("%s leaks a password: %s", verb, out)
				}
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string // substring; "" means valid
	}{
		{"embedded", Config{}, ""},
		{"single", Config{Addresses: []string{"r:6379"}, DB: 3}, ""},
		{"sentinel", Config{Addresses: []string{"a:1", "b:2"}, MasterName: "m", DB: 1}, ""},
		{"cluster", Config{Addresses: []string{"a:1"}, Cluster: true}, ""},
		{"empty address", Config{Addresses: []string{"a:1", " "}}, "address 2 is empty"},
		{"negative db", Config{Addresses: []string{"a:1"}, DB: -1}, "db -1 is negative"},
		{"negative pool", Config{PoolSize: -1}, "pool_size -1 is negative"},
		{"negative dial timeout", Config{DialTimeout: caddy.Duration(-time.Second)}, "dial_timeout is negative"},
		{"negative timeout", Config{Timeout: caddy.Duration(-time.Second)}, "timeout is negative"},
		{"cluster with sentinel", Config{Addresses: []string{"a:1"}, Cluster: true, MasterName: "m"}, "exclude each other"},
		{"cluster db", Config{Addresses: []string{"a:1", "b:2"}, DB: 1}, "only db 0"},
		{"brace prefix", Config{Addresses: []string{"a:1"}, KeyPrefix: "x{y}:"}, "must not contain"},
		{"brace prefix embedded", Config{KeyPrefix: "{"}, "must not contain"},
		{"password never echoed", Config{Addresses: []string{"a:1"}, Password: pw, DB: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", err, tt.err)
			case err != nil && strings.Contains(err.Error(), pw):
				t.Fatalf("error leaks the password: %v", err)
			}
			if tt.err != "" {
				if s, err := Open(tt.cfg, nil); err == nil {
					_ = s.Close()
					t.Fatal("Open accepted an invalid config")
				}
			}
		})
	}
}

func TestUniversalOptions(t *testing.T) {
	c := Config{
		Addresses: []string{"redis.example:6380"}, Username: "u", Password: pw, DB: 4, TLS: true,
		MasterName: "m", SentinelUsername: "su", SentinelPassword: spw, PoolSize: 7,
		DialTimeout: caddy.Duration(3 * time.Second),
	}
	o := c.universalOptions(c.Addresses)
	checks := []struct {
		name      string
		got, want any
	}{
		{"addrs", o.Addrs[0], "redis.example:6380"},
		{"username", o.Username, "u"},
		{"password", o.Password, pw},
		{"db", o.DB, 4},
		{"master", o.MasterName, "m"},
		{"sentinel username", o.SentinelUsername, "su"},
		{"sentinel password", o.SentinelPassword, spw},
		{"pool size", o.PoolSize, 7},
		{"dial timeout", o.DialTimeout, 3 * time.Second},
		{"read timeout default", o.ReadTimeout, 2 * time.Second},
		{"write timeout default", o.WriteTimeout, 2 * time.Second},
		{"tls min version", o.TLSConfig.MinVersion, uint16(tls.VersionTLS12)},
		{"tls server name", o.TLSConfig.ServerName, "redis.example"},
		{"context timeouts", o.ContextTimeoutEnabled, true},
		{"cluster mode", o.IsClusterMode, false},
		{"dial retries", o.DialerRetries, 1},
		{"client name", o.ClientName, "caddy-lore"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o := (Config{Addresses: []string{"r:1"}}).universalOptions([]string{"r:1"}); o.TLSConfig != nil {
		t.Error("TLS config without tls")
	}
	if o := (Config{Addresses: []string{"[::1]:6379"}, TLS: true}).universalOptions([]string{"[::1]:6379"}); o.TLSConfig.ServerName != "::1" {
		t.Errorf("IPv6 server name = %q", o.TLSConfig.ServerName)
	}
}

func TestClientKinds(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		cluster bool
	}{
		{"one address", Config{Addresses: []string{"127.0.0.1:1"}}, false},
		{"forced cluster", Config{Addresses: []string{"127.0.0.1:1"}, Cluster: true}, true},
		{"several addresses", Config{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}}, true},
		{"sentinel", Config{Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "m"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, tt.cfg) // no network: go-redis dials lazily
			_, isCluster := s.e.client.(*redis.ClusterClient)
			if isCluster != tt.cluster || s.e.cluster != tt.cluster || tt.cfg.clustered() != tt.cluster {
				t.Fatalf("cluster client = %v, want %v", isCluster, tt.cluster)
			}
		})
	}
}

func TestPoolKey(t *testing.T) {
	base := Config{Addresses: []string{"r:6379"}, Password: pw}
	variants := map[string]Config{
		"password":          {Addresses: []string{"r:6379"}, Password: "other"},
		"address":           {Addresses: []string{"r:6380"}, Password: pw},
		"db":                {Addresses: []string{"r:6379"}, Password: pw, DB: 1},
		"tls":               {Addresses: []string{"r:6379"}, Password: pw, TLS: true},
		"sentinel password": {Addresses: []string{"r:6379"}, Password: pw, SentinelPassword: "x"},
		"pool size":         {Addresses: []string{"r:6379"}, Password: pw, PoolSize: 3},
		"embedded":          {},
	}
	for name, v := range variants {
		if v.poolKey() == base.poolKey() {
			t.Errorf("%s change keeps the pool key", name)
		}
	}
	same := base
	same.KeyPrefix = "other:"
	same.Timeout = caddy.Duration(DefaultTimeout) // explicit default
	if same.poolKey() != base.poolKey() {
		t.Error("key prefix or an explicit default changed the pool key")
	}
	if strings.Contains(base.poolKey(), pw) {
		t.Error("pool key shows the password")
	}
	if (Config{KeyPrefix: "a:"}).poolKey() != (Config{}).poolKey() {
		t.Error("embedded configs do not share the in-process server")
	}
}
