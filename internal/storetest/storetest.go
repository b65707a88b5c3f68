// Package storetest gives package tests a Redis for store.Store: a fresh
// miniredis, or, when LORE_TEST_REDIS_ADDR is set, the real Redis there
// under a fresh key prefix whose keys are deleted when the test ends (the
// Lua scripts run on both; EachBackend runs a test on both).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/store"
)

// Config returns the configuration of a fresh test Redis, named after what
// uses it, and a plain client on the same server for inspection.
func Config(tb testing.TB, name string) (store.Config, *redis.Client) {
	tb.Helper()
	addr := os.Getenv("LORE_TEST_REDIS_ADDR")
	if addr == "" {
		addr = miniredis.RunT(tb).Addr()
	}
	return config(tb, name, addr)
}

// Backend is one Redis a test runs against: a configuration as Config gives
// it and a plain client on the same server.
type Backend struct {
	Name string // "miniredis" or "redis"
	Cfg  store.Config
	Raw  *redis.Client
}

// EachBackend runs test as a subtest on each of backends(t, name), with a
// store handle opened on it.
func EachBackend(t *testing.T, name string, test func(t *testing.T, b Backend, st *store.Store)) {
	t.Helper()
	for _, b := range backends(t, name) {
		t.Run(b.Name, func(t *testing.T) { test(t, b, Open(t, b.Cfg)) })
	}
}

// backends returns a fresh miniredis and, when LORE_TEST_REDIS_ADDR is set,
// the real Redis there as well, for the tests of Lua scripts, which must
// behave the same on both.
func backends(tb testing.TB, name string) []Backend {
	tb.Helper()
	cfg, raw := config(tb, name, miniredis.RunT(tb).Addr())
	out := []Backend{{Name: "miniredis", Cfg: cfg, Raw: raw}}
	if addr := os.Getenv("LORE_TEST_REDIS_ADDR"); addr != "" {
		cfg, raw := config(tb, name, addr)
		out = append(out, Backend{Name: "redis", Cfg: cfg, Raw: raw})
	}
	return out
}

// config is a fresh key prefix on the Redis at addr, whose keys are deleted
// when the test ends.
func config(tb testing.TB, name, addr string) (store.Config, *redis.Client) {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	cfg := store.Config{Addresses: []string{addr}, KeyPrefix: "lore-" + name + "-" + hex.EncodeToString(b[:]) + ":"}
	raw := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() {
		if keys, _ := raw.Keys(context.Background(), cfg.KeyPrefix+"*").Result(); len(keys) > 0 {
			raw.Del(context.Background(), keys...)
		}
		_ = raw.Close()
	})
	return cfg, raw
}

// Open opens a store handle on cfg, closed when the test ends (one per
// simulated gateway instance).
func Open(tb testing.TB, cfg store.Config) *store.Store {
	tb.Helper()
	st, err := store.Open(cfg, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}
