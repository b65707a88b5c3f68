package batching

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// benchBackends are miniredis and a real Redis: LORE_TEST_REDIS_ADDR, or a
// redis-server started for the benchmark when /usr/bin/redis-server exists.
func benchBackends(b *testing.B) []backend {
	m := miniredis.RunT(b)
	out := []backend{{"miniredis", store.Config{Addresses: []string{m.Addr()}}}}
	if addr := realRedis(b); addr != "" {
		out = append(out, backend{"redis", store.Config{Addresses: []string{addr},
			KeyPrefix: fmt.Sprintf("lore-bench-%d:", time.Now().UnixNano())}})
	}
	return out
}

func realRedis(b *testing.B) string {
	if addr := os.Getenv("LORE_TEST_REDIS_ADDR"); addr != "" {
		return addr
	}
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return ""
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}

// benchCall is a typical distillation call: a 2 KB system prompt and 6 KB
// of rendered messages.
func benchCall(i int) llm.Call {
	return llm.Call{Kind: "distill", SessionID: fmt.Sprintf("S%d", i%20), Model: "claude-haiku-4-5",
		System: strings.Repeat("You distill a coding session. ", 70),
		User:   fmt.Sprintf("[user] (12:%02d) item %d ", i%60, i) + strings.Repeat("[assistant] ran the tests; all pass. ", 160),
		Ref:    []byte(`{"from":120,"to":150}`)}
}

func benchQueue(b *testing.B, be backend) (*env, *Queue) {
	e := newEnv(b, be.cfg, fakeupstream.Options{BatchDelay: time.Hour})
	e.log = zap.NewNop()
	q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = MaxItemsLimit }})
	return e, q
}

// BenchmarkEnqueue measures Enqueue (seal + one MULTI) per item.
func BenchmarkEnqueue(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			e, q := benchQueue(b, be)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := q.Enqueue(ctx, benchCall(i), credA); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
			_ = e
		})
	}
}

// BenchmarkFlush10000 measures one flush pass over 10,000 queued items of
// two credentials: take (Lua, 2,000 at a time), open and build the bodies,
// POST to the fake upstream (in process, sharing the CPUs), record in
// flight. "typical" items are 8 KB distillation calls (80 MB of request
// bodies in all), "small" ones 30 bytes of prompt.
func BenchmarkFlush10000(b *testing.B) {
	for _, be := range benchBackends(b) {
		for _, size := range []string{"typical", "small"} {
			b.Run(be.name+"/"+size, func(b *testing.B) {
				e, q := benchQueue(b, be)
				ctx := context.Background()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for j := range 10000 {
						cred := credA
						if j%2 == 1 {
							cred = credB
						}
						c := benchCall(j)
						if size == "small" {
							c.System, c.User = "Summarize.", fmt.Sprintf("item %d", j)
						}
						if err := q.Enqueue(ctx, c, cred); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					q.flushAll()
					b.StopTimer()
					if s := e.stats(q); s.Queued != 0 {
						b.Fatalf("%d left queued", s.Queued)
					}
					e.up.Reset()
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/flush")
			})
		}
	}
}

// BenchmarkRedisMemoryPerItem reports Redis memory per queued item (MEMORY
// USAGE of the queue list and the items hash, SAMPLES 0), for a typical
// 8 KB distillation call and a small one, on a real Redis.
func BenchmarkRedisMemoryPerItem(b *testing.B) {
	addr := realRedis(b)
	if addr == "" {
		b.Skip("no redis-server")
	}
	for _, size := range []string{"typical", "small"} {
		b.Run(size, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				prefix := fmt.Sprintf("lore-mem-%d:", time.Now().UnixNano())
				e, q := benchQueue(b, backend{"redis", store.Config{Addresses: []string{addr}, KeyPrefix: prefix}})
				ctx := context.Background()
				const n = 10000
				payload := 0
				for j := range n {
					c := benchCall(j)
					if size == "small" {
						c.System, c.User = "Summarize.", fmt.Sprintf("item %d", j)
					}
					payload += len(c.System) + len(c.User)
					if err := q.Enqueue(ctx, c, credA); err != nil {
						b.Fatal(err)
					}
				}
				raw := redis.NewClient(&redis.Options{Addr: addr})
				var total int64
				for _, k := range []string{"bq:{batch}:queue", "bq:{batch}:items"} {
					v, err := raw.Do(ctx, "MEMORY", "USAGE", prefix+k, "SAMPLES", "0").Int64()
					if err != nil {
						b.Fatal(err)
					}
					total += v
				}
				raw.Del(ctx, prefix+"bq:{batch}:queue", prefix+"bq:{batch}:items", prefix+"bq:{batch}:stats")
				_ = raw.Close()
				b.ReportMetric(float64(total)/n, "B/item")
				b.ReportMetric(float64(total-int64(payload))/n, "B/item-over-prompt")
				_ = e
			}
		})
	}
}
