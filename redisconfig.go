package lore

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-lore/caddy-lore/store"
)

// RedisConfig is the `redis` option as configured. Every value may be an
// `{env.*}` placeholder, the numbers and durations included, so they are kept
// as text here and resolved into a store.Config when the module is
// provisioned (at every load and reload).
type RedisConfig struct {
	Addresses        []string    `json:"addresses,omitempty"`
	Username         string      `json:"username,omitempty"`
	Password         string      `json:"password,omitempty"`
	DB               configValue `json:"db,omitempty"` // default 0
	TLS              bool        `json:"tls,omitempty"`
	KeyPrefix        string      `json:"key_prefix,omitempty"`        // default "lore:"
	MasterName       string      `json:"master_name,omitempty"`       // sentinel
	SentinelUsername string      `json:"sentinel_username,omitempty"` // sentinel ACL
	SentinelPassword string      `json:"sentinel_password,omitempty"`
	Cluster          bool        `json:"cluster,omitempty"`      // force a cluster client for one address
	DialTimeout      configValue `json:"dial_timeout,omitempty"` // default 2s
	Timeout          configValue `json:"timeout,omitempty"`      // read/write, default 2s
	PoolSize         configValue `json:"pool_size,omitempty"`    // default: go-redis's
}

// resolve replaces placeholders and parses the numbers and durations. Its
// errors name the option and the resolved value, never a password.
func (c RedisConfig) resolve(resolve func(string) string) (store.Config, error) {
	out := store.Config{
		Username:         resolve(c.Username),
		Password:         resolve(c.Password),
		TLS:              c.TLS,
		KeyPrefix:        resolve(c.KeyPrefix),
		MasterName:       resolve(c.MasterName),
		SentinelUsername: resolve(c.SentinelUsername),
		SentinelPassword: resolve(c.SentinelPassword),
		Cluster:          c.Cluster,
	}
	for _, a := range c.Addresses {
		if a = resolve(a); a != "" {
			out.Addresses = append(out.Addresses, a)
		}
	}
	var err error
	if out.DB, err = parseCount("redis: db", resolve(string(c.DB))); err != nil {
		return store.Config{}, err
	}
	if out.PoolSize, err = parseCount("redis: pool_size", resolve(string(c.PoolSize))); err != nil {
		return store.Config{}, err
	}
	dial, err := parsePositiveDuration("redis: dial_timeout", resolve(string(c.DialTimeout)))
	if err != nil {
		return store.Config{}, err
	}
	rw, err := parsePositiveDuration("redis: timeout", resolve(string(c.Timeout)))
	if err != nil {
		return store.Config{}, err
	}
	out.DialTimeout, out.Timeout = caddyDuration(dial), caddyDuration(rw)
	return out, nil
}

// parseRedis reads the `redis` option: addresses on the line, options in the
// block. Literal values are checked here; placeholders in Provision.
func parseRedis(d *caddyfile.Dispenser) (*RedisConfig, error) {
	cfg := &RedisConfig{Addresses: d.RemainingArgs()}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("redis: %s specified more than once", name)
		}
		seen[name] = true
		switch name {
		case "tls", "cluster":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			if name == "tls" {
				cfg.TLS = true
			} else {
				cfg.Cluster = true
			}
			continue
		case "address", "addresses":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			cfg.Addresses = append(cfg.Addresses, args...)
			continue
		}
		var v string
		if !d.Args(&v) || d.NextArg() {
			return nil, d.ArgErr()
		}
		switch name {
		case "username":
			cfg.Username = v
		case "password":
			cfg.Password = v
		case "key_prefix":
			cfg.KeyPrefix = v
		case "master_name":
			cfg.MasterName = v
		case "sentinel_username":
			cfg.SentinelUsername = v
		case "sentinel_password":
			cfg.SentinelPassword = v
		case "db", "pool_size", "dial_timeout", "timeout":
			if err := checkRedisLiteral(name, v); err != nil {
				return nil, d.Err(err.Error())
			}
			*cfg.valueField(name) = configValue(v)
		default:
			return nil, d.Errf("unrecognized redis option %q", name)
		}
	}
	if len(cfg.Addresses) == 0 {
		return nil, d.Err("redis: at least one address is required (omit `redis` for the embedded store)")
	}
	return cfg, nil
}

// valueField is the field of a numeric or duration option, kept as text
// until Provision resolves it; nil for any other name.
func (c *RedisConfig) valueField(name string) *configValue {
	switch name {
	case "db":
		return &c.DB
	case "pool_size":
		return &c.PoolSize
	case "dial_timeout":
		return &c.DialTimeout
	case "timeout":
		return &c.Timeout
	}
	return nil
}

// checkRedisLiteral is checkLiteral for the redis block's numbers and
// durations: a literal is checked when the Caddyfile is adapted, a
// placeholder when it is resolved.
func checkRedisLiteral(name, v string) error {
	if hasPlaceholder(v) {
		return nil
	}
	if name == "db" || name == "pool_size" {
		_, err := parseCount("redis: "+name, v)
		return err
	}
	// Literals need a unit here ("2s"); a plain integer is nanoseconds
	// only in JSON.
	if _, err := parseDuration("redis: "+name, v); err != nil {
		return fmt.Errorf("redis: %s must be a positive duration, got %q", name, v)
	}
	_, err := parsePositiveDuration("redis: "+name, v)
	return err
}
