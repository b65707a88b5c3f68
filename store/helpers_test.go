package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// backend is a Redis the store tests run against, with a raw client that
// inspects it behind the store's back.
type backend struct {
	name string
	cfg  Config
	raw  *redis.Client
	mini *miniredis.Miniredis // nil for a real Redis
}

// backends returns a fresh miniredis and, when LORE_TEST_REDIS_ADDR is set, a
// real Redis under a random key prefix that is wiped afterwards.
func backends(t *testing.T) []backend {
	t.Helper()
	m := miniredis.RunT(t)
	out := []backend{{
		name: "miniredis",
		cfg:  Config{Addresses: []string{m.Addr()}},
		raw:  rawClient(t, m.Addr()),
		mini: m,
	}}
	if addr := os.Getenv("LORE_TEST_REDIS_ADDR"); addr != "" {
		prefix := "lore-test-" + randomHex(t, 6) + ":"
		raw := rawClient(t, addr)
		t.Cleanup(func() {
			ctx := context.Background()
			for _, k := range scanKeys(t, raw, prefix) {
				raw.Del(ctx, k)
			}
		})
		out = append(out, backend{name: "redis", cfg: Config{Addresses: []string{addr}, KeyPrefix: prefix}, raw: raw})
	}
	return out
}

func (b backend) prefix() string { return b.cfg.prefix() }

// eachBackend runs test as a subtest on each of backends(t), with a store
// opened on it.
func eachBackend(t *testing.T, test func(t *testing.T, b backend, s *Store)) {
	t.Helper()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { test(t, b, open(t, b.cfg)) })
	}
}

func rawClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func scanKeys(t *testing.T, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// dump renders every key under prefix with its type and full value.
func dump(t *testing.T, c redis.UniversalClient, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, k := range scanKeys(t, c, prefix) {
		typ := c.Type(ctx, k).Val()
		b.WriteString(k + " (" + typ + "):\n")
		switch typ {
		case "string":
			b.WriteString(c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "list":
			b.WriteString(strings.Join(c.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "zset":
			for _, z := range c.ZRangeWithScores(ctx, k, 0, -1).Val() {
				fmt.Fprintf(&b, "%v=%v\n", z.Member, z.Score)
			}
		default:
			t.Fatalf("dump: unexpected type %s of %s", typ, k)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// countingHook counts every dial and command that reaches the network layer.
type countingHook struct{ dials, cmds atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// ConnectedClients returns the server's connected_clients (INFO clients), for
// the tests of client sharing across reloads.
func (s *Store) ConnectedClients(ctx context.Context) (int, error) {
	var info string
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		info, err = c.Info(ctx, "clients").Result()
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("store: INFO clients has no connected_clients")
}
