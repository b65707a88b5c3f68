// Package store is the gateway's Redis access: the shared client pool, the
// embedded in-process default, the outage breaker, and the session (its keys,
// its one-round-trip read and its commit, grouped under load, its copy and
// deletion, its indexes). Feature packages that own their keys and scripts
// (batching, distill, idle, knowledge, usage) reach Redis through Do, Key,
// SessionKey, the guards and Turn.Counters. Of the per-session keys of
// distillation and curation, store keeps only the names (keys_distill.go,
// keys_knowledge.go): it copies and deletes those keys with the session, and
// reads the live distillation rows, raw, in LoadTurn's round trip.
// docs/redis-keys.md is the whole key schema.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// ErrClosed is returned by operations on a handle after its Close.
var ErrClosed = errors.New("store: closed")

// Store is a handle on the shared client. Safe for concurrent use.
type Store struct {
	e        *entry
	poolKey  string
	keys     keys
	embedded bool
	idleTrim trimClock // idle.go

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{} // closed by Close; checked by every operation
}

// Open acquires the client for cfg from the process-wide caddy.UsagePool
// (keyed by the connection settings, so config reloads reuse it) and returns a
// handle; Close releases it. With cfg.Embedded() the pool entry is an
// in-process miniredis, so its state also survives reloads.
//
// Open does not contact an external Redis: a Redis that is down at startup
// shows as an outage on the first operation, not as a failed config.
func Open(cfg Config, log *zap.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	e, key, err := acquire(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Store{
		e:        e,
		poolKey:  key,
		keys:     keys{prefix: cfg.prefix()},
		embedded: cfg.Embedded(),
		closed:   make(chan struct{}),
	}, nil
}

// Close releases this handle's reference on the shared client. Safe to call
// more than once and on a nil *Store.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		close(s.closed)
		_, s.closeErr = clients.Delete(s.poolKey)
	})
	return s.closeErr
}

// Embedded reports whether this is the in-process store.
func (s *Store) Embedded() bool { return s != nil && s.embedded }

// EmbeddedSecret is, for the embedded store, a random secret (64 hex digits)
// created with the in-process server and living exactly as long as its data;
// it is "" for an external Redis. Derive the keyring from it
// (auth.NewKeyring), never from a secret made afresh at each config reload:
// that would orphan every namespace and sealed credential of the surviving
// embedded data.
func (s *Store) EmbeddedSecret() string {
	if s == nil || s.e == nil {
		return ""
	}
	return s.e.secret
}

// Available is false during a Redis outage (after a failed call, until a
// retry succeeds); callers skip state work then. The outage is logged once
// when it starts and once when it ends.
func (s *Store) Available() bool {
	if s == nil || s.isClosed() {
		return false
	}
	return s.e.health.ok()
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// do runs one network operation with the outage rules: fail fast while Redis
// is known to be down, bound the call if the caller set no deadline, and
// mark an outage on a connection-level failure. fn must only talk to Redis;
// decoding happens after do, so a malformed value is never taken for an
// outage.
func (s *Store) do(ctx context.Context, fn func(context.Context, redis.UniversalClient) error) error {
	if s == nil || s.isClosed() {
		return ErrClosed
	}
	return s.e.do(ctx, fn)
}

// do is Store.do for the shared client, whichever handle asks (a group
// commit runs for the commits of several handles).
func (e *entry) do(ctx context.Context, fn func(context.Context, redis.UniversalClient) error) error {
	if !e.health.ok() {
		return ErrUnavailable
	}
	opCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		opCtx, cancel = context.WithTimeout(ctx, e.opTimeout)
		defer cancel()
	}
	err := fn(opCtx, e.client)
	if isOutage(ctx, err) {
		e.health.markDown(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// hashAll reads a whole hash under the outage rules of do (empty when the
// key does not exist). The key is named inside do, so a nil or closed Store
// answers ErrClosed like every other read.
func (s *Store) hashAll(ctx context.Context, key func(keys) string) (map[string]string, error) {
	var raw map[string]string
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.HGetAll(ctx, key(s.keys)).Result()
		return err
	})
	return raw, err
}

// AddHook instruments the shared client (go-redis hooks: dials, commands,
// pipelines), e.g. to count the round trips of a turn.
func (s *Store) AddHook(h redis.Hook) { s.e.client.AddHook(h) }

// Do runs fn against Redis under the outage rules of do. It is how the
// packages that own a feature's keys and scripts (batching, ...) reach the
// shared client: the pool, the breaker and the key prefix stay here.
func (s *Store) Do(ctx context.Context, fn func(context.Context, redis.UniversalClient) error) error {
	return s.do(ctx, fn)
}

// Key returns name under the configured key prefix ("<p>name"), for the
// gateway-wide keys a feature package owns.
func (s *Store) Key(name string) string { return s.keys.prefix + name }

// SessionKey returns the key "<p>s:{<sid>}:<name>" of session sid, in the
// session's hash slot, for the per-session keys a feature package owns.
// name must be one of the per-session names (keys_distill.go,
// keys_knowledge.go, BatchUsageKey): DeleteSession removes exactly the
// session's keys listed in sessionKeys (keys_admin.go).
func (s *Store) SessionKey(sid, name string) string { return s.keys.session(sid, name) }

// Ping checks Redis now, bypassing the outage short-circuit, and updates
// Available with the result.
func (s *Store) Ping(ctx context.Context) error {
	if s == nil || s.isClosed() {
		return ErrClosed
	}
	opCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		opCtx, cancel = context.WithTimeout(ctx, s.e.opTimeout)
		defer cancel()
	}
	err := s.e.client.Ping(opCtx).Err()
	switch {
	case err == nil:
		s.e.health.markUp()
	case isOutage(ctx, err):
		s.e.health.markDown(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
