package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// clients is the process-wide pool of shared Redis clients, keyed by
// Config.poolKey. It is one of caddy-lore's three package-level mutable
// variables (docs/architecture.md, "Process-wide state"), and deliberately
// so: a Caddy config reload provisions the new module
// instances before cleaning up the old ones, and only a process-wide pool lets
// the new instances take over the old client (and, for the embedded store, the
// old in-process server with its data) instead of reconnecting. This is the
// Caddy idiom (dunglas/mercure caddy/bolt.go, caddy's own listener pool); the
// pool is reference counted and its entries destroy themselves when the last
// handle is released.
var clients = caddy.NewUsagePool()

// entry is one pooled client and what lives and dies with it.
type entry struct {
	client    redis.UniversalClient
	cluster   bool
	opTimeout time.Duration
	health    *health
	// A single node's or sentinel's turn reads and session commits, sent
	// in groups (group.go).
	reads, commits grouper

	// Embedded store only.
	mini   *miniredis.Miniredis
	secret string
}

// Destruct runs when the last handle is released: stop probes first (they
// use the client), then close the client, then the embedded server.
func (e *entry) Destruct() error {
	e.health.stop()
	err := e.client.Close()
	if e.mini != nil {
		e.mini.Close()
	}
	return err
}

// acquire returns the pooled entry for cfg, creating it if needed, and takes
// a reference on it. log becomes the entry's logger for outage messages, so
// they go to the newest configuration's logs.
func acquire(cfg Config, log *zap.Logger) (*entry, string, error) {
	key := cfg.poolKey()
	v, _, err := clients.LoadOrNew(key, func() (caddy.Destructor, error) {
		if cfg.Embedded() {
			return newEmbedded(cfg, log)
		}
		return newExternal(cfg, log), nil
	})
	if err != nil {
		return nil, "", err
	}
	e := v.(*entry)
	e.health.log.Store(log)
	return e, key, nil
}

// newExternal builds the client without dialling: go-redis connects lazily,
// so a Redis that is down at startup does not fail the Caddy config; the
// first operation finds the outage and the gateway proxies without state.
func newExternal(cfg Config, log *zap.Logger) *entry {
	client := redis.NewUniversalClient(cfg.universalOptions(cfg.Addresses))
	e := newEntry(client, cfg, log)
	e.health.routeClientLog()
	return e
}

// newEmbedded starts the in-process Redis-compatible server on loopback only
// (never reachable from the network) and connects to it through the same
// client code as an external Redis.
//
// Loopback is not private: any process on the machine, or in a container
// sharing its network namespace, can reach the port. So the server requires
// a random 256-bit password that only this process knows (it is never logged
// nor written anywhere): nothing else can read the conversations or tamper
// with queued work.
func newEmbedded(cfg Config, log *zap.Logger) (*entry, error) {
	// The keyring secret for the embedded store lives exactly as long as its
	// data, so sealed credentials and namespaces survive config reloads.
	raw := make([]byte, 64)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	password := hex.EncodeToString(raw[32:])
	mini := miniredis.NewMiniRedis()
	mini.RequireAuth(password) // before the listener accepts anybody
	if err := mini.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	opts := cfg
	opts.Addresses = []string{mini.Addr()}
	opts.Username, opts.Password, opts.DB, opts.TLS = "", password, 0, false
	opts.MasterName, opts.SentinelUsername, opts.SentinelPassword, opts.Cluster = "", "", "", false
	client := redis.NewUniversalClient(opts.universalOptions(opts.Addresses))
	e := newEntry(client, opts, log)
	e.mini = mini
	e.secret = hex.EncodeToString(raw[:32])
	log.Warn("no redis configured: using the embedded in-process store; "+
		"sessions, credentials and the batch queue are lost when Caddy stops",
		zap.String("address", mini.Addr()))
	return e, nil
}

func newEntry(client redis.UniversalClient, cfg Config, log *zap.Logger) *entry {
	_, cluster := client.(*redis.ClusterClient)
	ping := func(ctx context.Context) error { return client.Ping(ctx).Err() }
	return &entry{
		client:    client,
		cluster:   cluster,
		opTimeout: cfg.opTimeout(),
		health:    newHealth(ping, cfg.opTimeout(), log),
	}
}
