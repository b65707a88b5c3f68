package lore

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("lore", parseCaddyfile)
	// Before reverse_proxy, so a site can pair `lore` with other handlers
	// without an `order` line.
	httpcaddyfile.RegisterDirectiveOrder("lore", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(Lore)
	err := l.UnmarshalCaddyfile(h.Dispenser)
	return l, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	lore [<matcher>] {
//	    upstream          <url>        # default https://api.anthropic.com
//	    openai_upstream   <url>        # default https://api.openai.com
//	    redis             <address...> {   # omitted: embedded in-process store
//	        addresses     <addr...>    # more addresses (alias: address)
//	        username      <u>
//	        password      <p>
//	        db            <n>
//	        tls
//	        key_prefix    <prefix>     # default "lore:"
//	        master_name   <name>       # sentinel: addresses are sentinels
//	        sentinel_username <u>
//	        sentinel_password <p>
//	        cluster                    # cluster client even for one address
//	        dial_timeout  <duration>   # default 2s
//	        timeout       <duration>   # read/write, default 2s
//	        pool_size     <n>
//	    }
//	    credential_key    <secret>     # >= 32 chars; required with an external redis
//	    old_credential_keys <secret...> # earlier keys, newest first, tried for unsealing
//	    worker_model      <model>      # default claude-haiku-4-5
//	    openai_worker_model <model>    # default gpt-5-mini: worker model of openai_upstream sessions
//	    identity          <value>      # e.g. {http.request.header.X-Forwarded-User}: namespace by person
//	    worker_credential [api-key] <key> | bearer <token>
//	    batching off | {
//	        flush_interval <duration>  # default 30s
//	        max_items      <n>         # default 50, 1..100000
//	        poll_interval  <duration>  # default 60s
//	        max_age        <duration>  # default 1h
//	    }
//	    max_body          <size>       # default 32MiB
//	    retention         <duration>   # default 720h
//	    idle_resume       <duration>   # default 5m, 0 disables
//	    idle_timeout      <duration>   # default 60s, 0 disables idle work
//	    knowledge         on | off     # default on: curated long-term knowledge
//	    recall            on | off     # default on: the recall tool offered to the model
//	    parse_cache       <size> | 0   # default 64MiB: decoded recent conversations kept in memory
//	    disable_metrics                # no Prometheus collectors, nothing counted
//	}
//
// Every value may be an `{env.*}` placeholder; they are resolved when the
// module is provisioned. Unknown subdirectives and repeated ones are errors.
func (l *Lore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] {
			return d.Errf("%s specified more than once", name)
		}
		seen[name] = true
		switch name {
		case "upstream", "openai_upstream", "credential_key", "max_body", "retention", "idle_resume", "idle_timeout", "worker_model", "knowledge", "recall", "parse_cache",
			"openai_worker_model", "identity":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			if err := checkLiteral(name, v); err != nil {
				return d.Err(err.Error())
			}
			*l.stringField(name) = v
		case "worker_credential":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			l.WorkerCredential = strings.Join(args, " ")
		case "batching":
			b, err := parseBatching(d)
			if err != nil {
				return err
			}
			l.Batching = b
		case "redis":
			cfg, err := parseRedis(d)
			if err != nil {
				return err
			}
			l.Redis = cfg
		case "old_credential_keys":
			if l.OldCredentialKeys = d.RemainingArgs(); len(l.OldCredentialKeys) == 0 {
				return d.ArgErr()
			}
		case "disable_metrics":
			if d.NextArg() {
				return d.ArgErr()
			}
			l.DisableMetrics = true
		default:
			return d.Errf("unrecognized lore subdirective %q", name)
		}
	}
	return nil
}

func (l *Lore) stringField(name string) *string {
	switch name {
	case "upstream":
		return &l.Upstream
	case "openai_upstream":
		return &l.OpenAIUpstream
	case "credential_key":
		return &l.CredentialKey
	case "max_body":
		return &l.MaxBody
	case "idle_resume":
		return &l.IdleResume
	case "idle_timeout":
		return &l.IdleTimeout
	case "worker_model":
		return &l.WorkerModel
	case "openai_worker_model":
		return &l.OpenAIWorkerModel
	case "identity":
		return &l.Identity
	case "knowledge":
		return &l.Knowledge
	case "recall":
		return &l.Recall
	case "parse_cache":
		return &l.ParseCache
	default: // retention
		return &l.Retention
	}
}

// checkLiteral validates a value at adapt time when it has no placeholder, so
// `caddy validate` and `caddy adapt` report mistakes early. Placeholders are
// checked in Provision.
func checkLiteral(name, v string) error {
	if hasPlaceholder(v) {
		return nil
	}
	var err error
	switch name {
	case "upstream", "openai_upstream":
		_, err = parseUpstream(name, v)
	case "max_body":
		_, err = parseSize(v)
	case "retention", "idle_resume", "idle_timeout":
		_, err = parseDuration(name, v)
	case "knowledge", "recall":
		_, err = parseOnOff(name, v)
	case "parse_cache":
		_, err = parseCacheSize(v)
	}
	return err
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Lore)(nil)
