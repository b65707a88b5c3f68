// Package e2e holds the end-to-end tests of caddy-lore: the xcaddy-built
// binary (bin/caddy), a real redis-server, the in-process fake Anthropic
// upstream (internal/fakeupstream), and real clients (anthropic-sdk-go, and
// Claude Code from npm).
//
// The tests are skipped unless LORE_E2E=1, so `go test ./...` stays fast and
// needs no services. To run them:
//
//	scripts/build.sh                                 # builds bin/caddy
//	LORE_E2E=1 go test -count=1 -p 1 ./e2e/ -v
//
// Environment:
//
//	LORE_E2E=1              enable the tests
//	LORE_CADDY_BIN          the Caddy binary (default ../bin/caddy, i.e. bin/caddy at the repo root)
//	LORE_REDIS_SERVER       redis-server binary (default: redis-server on PATH, else /usr/bin/redis-server)
//	LORE_E2E_NODE_DIR       npm prefix for @anthropic-ai/claude-code (default $HOME/.cache/lore-e2e/node)
//	LORE_E2E_CLAUDE         a claude binary to use instead of installing one
//	LORE_E2E_CLAUDE_MODEL   pass --model to claude (default: Claude Code's own default model)
//	LORE_E2E_SKIP_CLAUDE=1  skip the Claude Code check (printed reason)
//	LORE_E2E_LONG_ROUNDS    tool rounds of the Claude Code loop past the window (default 150)
//	LORE_E2E_KEEP=1         keep each test's temp dir (Caddyfile, caddy.log, redis dir)
//
// Every test starts its own redis-server (random loopback port, no
// persistence), fake upstream and Caddy process, and stops them on cleanup.
// Caddy runs with the `debug` global option and its whole output goes to
// caddy.log in the test's temp dir; every test ends by checking that neither
// the log nor a full dump of Redis contains any credential the test used.
package e2e
