package store

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults applied when a Config field is zero.
const (
	DefaultKeyPrefix   = "lore:"
	DefaultDialTimeout = 2 * time.Second
	DefaultTimeout     = 2 * time.Second
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
	Cluster          bool           `json:"cluster,omitempty"`      // force a cluster client for one address
	DialTimeout      caddy.Duration `json:"dial_timeout,omitempty"` // default 2s
	Timeout          caddy.Duration `json:"timeout,omitempty"`      // read/write, default 2s
	PoolSize         int            `json:"pool_size,omitempty"`
}

// Embedded reports whether the embedded in-process store is configured.
func (c Config) Embedded() bool { return len(c.Addresses) == 0 }

// clustered reports whether Open makes a cluster client: forced, or several
// addresses that are not sentinels (the rule of redis.NewUniversalClient).
func (c Config) clustered() bool {
	return c.Cluster || (len(c.Addresses) > 1 && c.MasterName == "")
}

// String describes the connection with secrets redacted.
func (c Config) String() string {
	prefix := c.prefix()
	if c.Embedded() {
		return fmt.Sprintf("embedded(key_prefix=%q)", prefix)
	}
	var b strings.Builder
	b.WriteString("redis(")
	switch {
	case c.MasterName != "":
		fmt.Fprintf(&b, "sentinel master=%q sentinels=%v", c.MasterName, c.Addresses)
	case c.clustered():
		fmt.Fprintf(&b, "cluster addresses=%v", c.Addresses)
	default:
		fmt.Fprintf(&b, "address=%s", c.Addresses[0])
	}
	if c.Username != "" {
		fmt.Fprintf(&b, " username=%q", c.Username)
	}
	if c.Password != "" {
		b.WriteString(" password=redacted")
	}
	if c.SentinelUsername != "" {
		fmt.Fprintf(&b, " sentinel_username=%q", c.SentinelUsername)
	}
	if c.SentinelPassword != "" {
		b.WriteString(" sentinel_password=redacted")
	}
	fmt.Fprintf(&b, " db=%d tls=%t key_prefix=%q)", c.DB, c.TLS, prefix)
	return b.String()
}

// GoString serves %#v, which would otherwise print the passwords.
func (c Config) GoString() string { return "store.Config{" + c.String() + "}" }

// Format serves every other verb (%d or %x would print the fields raw).
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// Validate rejects settings that cannot work, without touching the network;
// Open calls it, and a module's Validate may call it earlier. Messages never
// contain passwords.
func (c Config) Validate() error {
	for i, a := range c.Addresses {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("redis: address %d is empty", i+1)
		}
	}
	switch {
	case c.DB < 0:
		return fmt.Errorf("redis: db %d is negative", c.DB)
	case c.PoolSize < 0:
		return fmt.Errorf("redis: pool_size %d is negative", c.PoolSize)
	case c.DialTimeout < 0:
		return errors.New("redis: dial_timeout is negative")
	case c.Timeout < 0:
		return errors.New("redis: timeout is negative")
	case strings.ContainsAny(c.prefix(), "{}"):
		// A brace in the prefix would become the cluster hash tag and put
		// every key of every session in one slot.
		return fmt.Errorf("redis: key_prefix %q must not contain { or }", c.prefix())
	case c.Embedded():
		return nil
	case c.Cluster && c.MasterName != "":
		return errors.New("redis: cluster and master_name (sentinel) exclude each other")
	case c.clustered() && c.DB != 0:
		return errors.New("redis: a cluster has only db 0")
	}
	return nil
}

func (c Config) prefix() string {
	if c.KeyPrefix == "" {
		return DefaultKeyPrefix
	}
	return c.KeyPrefix
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout == 0 {
		return DefaultDialTimeout
	}
	return time.Duration(c.DialTimeout)
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

// opTimeout bounds a store operation whose caller set no deadline: one dial
// and one read/write, so an unreachable Redis costs a turn at most that long
// before the outage short-circuit takes over.
func (c Config) opTimeout() time.Duration { return c.dialTimeout() + c.timeout() }

// universalOptions maps Config onto go-redis. addrs replaces c.Addresses (the
// embedded store passes its miniredis address).
func (c Config) universalOptions(addrs []string) *redis.UniversalOptions {
	o := &redis.UniversalOptions{
		Addrs:            addrs,
		ClientName:       "caddy-lore",
		Username:         c.Username,
		Password:         c.Password,
		DB:               c.DB,
		MasterName:       c.MasterName,
		SentinelUsername: c.SentinelUsername,
		SentinelPassword: c.SentinelPassword,
		IsClusterMode:    c.Cluster,
		DialTimeout:      c.dialTimeout(),
		ReadTimeout:      c.timeout(),
		WriteTimeout:     c.timeout(),
		PoolSize:         c.PoolSize,
		// One dial per attempt: go-redis's default of 5 dials 100 ms apart
		// inside each of its command retries made the first call of an outage
		// take ~1.8 s on a refused connection. Command retries (MaxRetries)
		// still ride out a blip.
		DialerRetries: 1,
		// Honour the per-operation deadlines that the outage handling relies on.
		ContextTimeoutEnabled: true,
		// Maintenance push notifications are a Redis Cloud feature; the probe
		// costs a round trip per connection and fails on most servers.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// RESP2: the gateway uses no RESP3 feature (push notifications,
		// client-side caching), and under RESP3 go-redis checks for pending
		// push notifications before reading every reply, about 3% of the
		// gateway's CPU on a stored turn (docs/benchmarks.md).
		Protocol: 2,
	}
	if c.TLS && len(addrs) > 0 {
		host, _, err := net.SplitHostPort(addrs[0])
		if err != nil {
			host = addrs[0]
		}
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return o
}

// poolKey identifies a shared client: every connection setting, passwords
// included (two configs that differ only by password must not share a
// client), hashed so the key never shows them. KeyPrefix is not part of it:
// it is applied per handle, so configs that differ only by prefix share one
// client. All embedded configs share the one in-process server.
func (c Config) poolKey() string {
	if c.Embedded() {
		return "lore-store/embedded"
	}
	settings := struct {
		Addresses                          []string
		Username, Password                 string
		DB                                 int
		TLS, Cluster                       bool
		MasterName                         string
		SentinelUsername, SentinelPassword string
		DialTimeout, Timeout               time.Duration
		PoolSize                           int
	}{
		c.Addresses, c.Username, c.Password, c.DB, c.TLS, c.Cluster, c.MasterName,
		c.SentinelUsername, c.SentinelPassword, c.dialTimeout(), c.timeout(), c.PoolSize,
	}
	raw, _ := json.Marshal(settings) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(raw)
	return "lore-store/redis/" + hex.EncodeToString(sum[:])
}
