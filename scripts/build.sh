#!/usr/bin/env bash
# Builds bin/caddy: Caddy v2.11.9 with the caddy-lore module from this checkout.
#
#   scripts/build.sh            # -> bin/caddy
#   OUTPUT=/tmp/caddy scripts/build.sh
#
# Installs xcaddy (v0.4.5, via the Go module proxy) when it is not on PATH or in
# $(go env GOPATH)/bin. The module path is unpublished, so xcaddy needs the
# placeholder version: --with github.com/caddy-lore/caddy-lore@v0.0.0=.
set -euo pipefail

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"
MODULE="github.com/caddy-lore/caddy-lore"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUTPUT="${OUTPUT:-$ROOT/bin/caddy}"

GOBIN_DIR="$(go env GOBIN)"
[[ -n "$GOBIN_DIR" ]] || GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"

if ! command -v xcaddy >/dev/null 2>&1; then
	echo "build.sh: installing xcaddy $XCADDY_VERSION"
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
fi

mkdir -p "$(dirname "$OUTPUT")"
echo "build.sh: xcaddy build $CADDY_VERSION --with $MODULE@v0.0.0=. --output $OUTPUT"
# XCADDY_SKIP_CLEANUP=0 (default) removes xcaddy's temp build dir afterwards.
xcaddy build "$CADDY_VERSION" --with "$MODULE@v0.0.0=." --output "$OUTPUT"

# Capture first: `list-modules | grep -q` fails under pipefail when grep
# exits early and Caddy gets SIGPIPE.
MODULES="$("$OUTPUT" list-modules)"
if grep -qx 'http.handlers.lore' <<<"$MODULES"; then
	echo "build.sh: $OUTPUT has http.handlers.lore ($("$OUTPUT" version | head -n1))"
else
	echo "build.sh: ERROR: $OUTPUT does not list http.handlers.lore" >&2
	exit 1
fi
