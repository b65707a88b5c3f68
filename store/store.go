// Package store is the gateway's Redis state: the shared client pool, the key
// schema (every key is built here and nowhere else), the embedded in-process
// default, and the typed operations the pipeline needs.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Config says how to reach Redis. No Addresses means the embedded store.
type Config struct {
	Addresses        []string       `json:"addresses,omitempty"`
	Username         string         `json:"username,omitempty"`
	Password         string         `json:"password,omitempty"`
	DB               int            `json:"db,omitempty"`
	TLS              bool           `json:"tls,omitempty"`
	KeyPrefix        string         `json:"key_prefix,omitempty"`        // default "lore:"
	MasterName       string         `json:"master_name,omitempty"`       // sentinel
	SentinelUsername string         `json:"sentinel_username,omitempty"` // sentinel ACL
	SentinelPassword string         `json:"sentinel_password,omitempty"`
	Cluster          bool           `json:"cluster,omitempty"` // force a cluster client for one address
	DialTimeout      caddy.Duration `json:"dial_timeout,omitempty"` // default 2s
	Timeout          caddy.Duration `json:"timeout,omitempty"`      // read/write, default 2s
	PoolSize         int            `json:"pool_size,omitempty"`
}

// Embedded reports whether the embedded in-process store is configured.
func (c Config) Embedded() bool { return len(c.Addresses) == 0 }

// String describes the connection with secrets redacted.
func (c Config) String() string { panic("TODO") }

// Store is a handle on the shared client. Safe for concurrent use.
type Store struct{}

// Open acquires the client for cfg from the process-wide caddy.UsagePool
// (keyed by the connection settings, so config reloads reuse it) and returns a
// handle; Close releases it. With cfg.Embedded() the pool entry is an
// in-process miniredis, so its state also survives reloads.
func Open(cfg Config, log *zap.Logger) (*Store, error) { panic("TODO") }

// Close releases this handle's reference on the shared client. Safe to call
// more than once and on a nil *Store.
func (s *Store) Close() error { panic("TODO") }

// Embedded reports whether this is the in-process store.
func (s *Store) Embedded() bool { panic("TODO") }

// Available is false during a Redis outage (after a failed call, until a
// retry succeeds); callers skip state work then. The outage is logged once
// when it starts and once when it ends.
func (s *Store) Available() bool { panic("TODO") }

// Usage is one response's token figures.
type Usage struct {
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheReadTokens  int64 `json:"cache_read_input_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_creation_input_tokens,omitempty"`
}

// Session is a session's state, stored as one Redis hash.
type Session struct {
	ID                 string
	Namespace          string // keyed hash of the credential (auth.Keyring.Namespace)
	Fingerprint        string // short credential fingerprint for admin output
	Lineage            string // see session.Lineage
	Model              string
	CreatedAt          time.Time
	LastRequest        time.Time
	MessageCount       int // messages in the last request
	Stored             int // messages stored so far, i.e. the next position
	Turns              int
	TurnsSinceCuration int
	Usage              Usage // totals over the session
}

// StoredMessage is one stored conversation message.
type StoredMessage struct {
	ID       string          `json:"id"`
	Role     string          `json:"role"`
	Position int             `json:"pos"`
	Content  json.RawMessage `json:"content"`
	At       int64           `json:"at"` // unix ms
	Model    string          `json:"model,omitempty"`
	Usage    *Usage          `json:"usage,omitempty"` // assistant replies
}

// Turn is everything one answered turn writes.
type Turn struct {
	Session    *Session        // written whole
	Messages   []StoredMessage // appended
	Credential []byte          // sealed credential blob; nil leaves the stored one
	Retention  time.Duration   // TTL of every key of the session
}

// Candidates returns the sessions of a lineage with their message counts.
func (s *Store) Candidates(ctx context.Context, lineage string) (map[string]int, error) {
	panic("TODO")
}

// LoadSession returns the session or (nil, nil) when it does not exist.
func (s *Store) LoadSession(ctx context.Context, id string) (*Session, error) { panic("TODO") }

// CommitTurn writes the session hash, appends the messages, stores the
// credential blob and indexes the session under its lineage, in one
// pipelined round trip, refreshing every TTL to t.Retention.
func (s *Store) CommitTurn(ctx context.Context, t Turn) error { panic("TODO") }

// Messages returns stored messages [start, stop] (LRANGE semantics).
func (s *Store) Messages(ctx context.Context, id string, start, stop int64) ([]StoredMessage, error) {
	panic("TODO")
}

// CredentialBlob returns the sealed credential of a session, nil if none.
func (s *Store) CredentialBlob(ctx context.Context, id string) ([]byte, error) { panic("TODO") }
