// Command caddy is Caddy with the standard modules and caddy-lore, for
// `go run ./cmd/caddy run --config examples/Caddyfile` without xcaddy. The
// release build uses xcaddy (see docs/operations.md, Building with xcaddy); both produce the same modules.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-lore/caddy-lore"
)

func main() {
	caddycmd.Main()
}
