package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a real redis-server on a loopback port, without persistence
// unless Save is called before a restart.
type RedisServer struct {
	Bin  string
	Dir  string
	Port int

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	client  *redis.Client
	logPath string
}

func redisServerBin() string {
	if b := os.Getenv("LORE_REDIS_SERVER"); b != "" {
		return b
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return "/usr/bin/redis-server"
}

// StartRedis starts redis-server in dir and registers its stop on cleanup.
func StartRedis(t testing.TB, dir string) *RedisServer {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &RedisServer{Bin: redisServerBin(), Dir: dir, Port: freePort(t), logPath: filepath.Join(dir, "redis.log")}
	if _, err := os.Stat(r.Bin); err != nil {
		t.Fatalf("redis-server not found at %s (apt-get install -y redis-server, or set LORE_REDIS_SERVER): %v", r.Bin, err)
	}
	r.Start(t)
	t.Cleanup(func() {
		r.mu.Lock()
		if r.client != nil {
			_ = r.client.Close()
		}
		r.mu.Unlock()
		r.Kill(t)
	})
	return r
}

func (r *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// Start (re)starts the server on the same port. With a dump.rdb in Dir (see
// Save) the data is loaded back.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.Bin,
		"--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.Dir,
		"--dbfilename", "dump.rdb",
		"--daemonize", "no",
		"--protected-mode", "yes",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start redis-server: %v", err)
	}
	recordPID(cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	ok := waitFor(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return r.Client().Ping(ctx).Err() == nil
	})
	if !ok {
		b, _ := os.ReadFile(r.logPath)
		t.Fatalf("redis-server on %s not ready:\n%s", r.Addr(), b)
	}
}

// Running reports whether the process is alive.
func (r *RedisServer) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (an outage as abrupt as it gets) and waits.
func (r *RedisServer) Kill(t testing.TB) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("redis-server pid %d did not exit", cmd.Process.Pid)
	}
}

// Save writes dump.rdb synchronously so a later Start loads the data.
func (r *RedisServer) Save(t testing.TB) {
	t.Helper()
	if err := r.Client().Save(context.Background()).Err(); err != nil {
		t.Fatalf("redis SAVE: %v", err)
	}
}

// Client is the test's own connection (not the gateway's).
func (r *RedisServer) Client() *redis.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		r.client = redis.NewClient(&redis.Options{
			Addr:         r.Addr(),
			DialTimeout:  time.Second,
			ReadTimeout:  2 * time.Second,
			WriteTimeout: 2 * time.Second,
			MaxRetries:   -1,
			PoolSize:     2,
			Protocol:     2,
		})
	}
	return r.client
}

// ConnectedClients is INFO clients' connected_clients minus the test's own
// connections.
func (r *RedisServer) ConnectedClients(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	info, err := r.Client().Info(ctx, "clients").Result()
	if err != nil {
		t.Fatalf("INFO clients: %v", err)
	}
	n := -1
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	if n < 0 {
		t.Fatalf("INFO clients without connected_clients:\n%s", info)
	}
	own := r.Client().PoolStats().TotalConns
	return n - int(own)
}

// ClientList is CLIENT LIST, for diagnostics.
func (r *RedisServer) ClientList() string {
	s, err := r.Client().ClientList(context.Background()).Result()
	if err != nil {
		return err.Error()
	}
	return s
}

// Dump reads every key (SCAN) and renders its value as text: strings as is,
// hashes as "field=value" lines, lists/sets/zsets one member per line, streams
// one entry per line. Binary data is kept byte for byte.
func (r *RedisServer) Dump(ctx context.Context) (map[string]string, error) {
	c := r.Client()
	out := map[string]string{}
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			typ, err := c.Type(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			switch typ {
			case "string":
				v, err := c.Get(ctx, k).Result()
				if err != nil && err != redis.Nil {
					return nil, err
				}
				b.WriteString(v)
			case "hash":
				m, err := c.HGetAll(ctx, k).Result()
				if err != nil {
					return nil, err
				}
				fields := make([]string, 0, len(m))
				for f := range m {
					fields = append(fields, f)
				}
				sort.Strings(fields)
				for _, f := range fields {
					fmt.Fprintf(&b, "%s=%s\n", f, m[f])
				}
			case "list":
				vs, err := c.LRange(ctx, k, 0, -1).Result()
				if err != nil {
					return nil, err
				}
				b.WriteString(strings.Join(vs, "\n"))
			case "set":
				vs, err := c.SMembers(ctx, k).Result()
				if err != nil {
					return nil, err
				}
				sort.Strings(vs)
				b.WriteString(strings.Join(vs, "\n"))
			case "zset":
				vs, err := c.ZRangeWithScores(ctx, k, 0, -1).Result()
				if err != nil {
					return nil, err
				}
				for _, z := range vs {
					fmt.Fprintf(&b, "%v %v\n", z.Score, z.Member)
				}
			case "stream":
				vs, err := c.XRange(ctx, k, "-", "+").Result()
				if err != nil {
					return nil, err
				}
				for _, x := range vs {
					fmt.Fprintf(&b, "%s %v\n", x.ID, x.Values)
				}
			case "none":
				continue // expired between SCAN and TYPE
			default:
				fmt.Fprintf(&b, "<%s>", typ)
			}
			out[k] = b.String()
		}
		cursor = next
		if cursor == 0 {
			return out, nil
		}
	}
}

// KeysContaining returns the keys whose name or value contains s.
func KeysContaining(dump map[string]string, s string) []string {
	var ks []string
	for k, v := range dump {
		if strings.Contains(k, s) || strings.Contains(v, s) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}
