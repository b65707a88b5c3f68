#!/usr/bin/env bash
# The project's test command (README "The two commands"; .ci/run calls it):
#   1. builds bin/caddy with xcaddy (scripts/build.sh),
#   2. unit + caddytest integration tests: go test -race -count=1 ./...
#   3. golangci-lint v2 (scripts/lint.sh, .golangci.yml), zero findings,
#   4. every fuzz target briefly (scripts/fuzz.sh, FUZZTIME each, default 2s),
#   5. end-to-end tests against bin/caddy, a real redis-server and real
#      clients (anthropic-sdk-go, openai-go, Claude Code from npm):
#        LORE_E2E=1 go test -count=1 -p 1 ./e2e/ -v
#   6. builds the Docker image (scripts/docker.sh) when a Docker engine runs
#      here, and says plainly that it did not when none does,
#   7. prints "tests: N passed, N failed" and exits non-zero on any failure.
# Needs redis-server on PATH (and node/npm for the Claude Code check); the
# e2e tests start and stop their own redis-server and Caddy on loopback.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
LOG_DIR="${LORE_TEST_LOGS:-$(mktemp -d /tmp/lore-test.XXXXXX)}"
mkdir -p "$LOG_DIR"
say() { echo "test: $*"; }
# failures LOG prints each failing test's own t.Log/t.Fatal lines (they come
# before its "--- FAIL" line) and any panic, so a CI log says why.
failures() {
	awk '/^=== (RUN|CONT)/ { cur = $3 }
		/^[ \t]+[A-Za-z0-9_]+_test\.go:[0-9]+: / { buf[cur] = buf[cur] $0 "\n" }
		/--- FAIL: / { name = $3; printf "%s\n%s", $0, buf[name] }
		/^panic:/ { p = 40 } p > 0 { print; p-- }' "$1" | head -300 || true
}

BUILD=FAIL UNIT=FAIL LINT=FAIL FUZZ=FAIL E2E=not-run
say "building bin/caddy"
scripts/build.sh && BUILD=ok

say "go test -race -count=1 ./...   (log: $LOG_DIR/unit.log)"
if go test -race -count=1 -v ./... >"$LOG_DIR/unit.log" 2>&1; then UNIT=ok; fi
grep -E '^(ok|FAIL|---|panic:)|^\s+--- FAIL' "$LOG_DIR/unit.log" | grep -v -- '--- PASS' | grep -v -- '--- SKIP' || true
[[ $UNIT != ok ]] && failures "$LOG_DIR/unit.log"

say "scripts/lint.sh   (golangci-lint v2, .golangci.yml; log: $LOG_DIR/lint.log)"
if scripts/lint.sh >"$LOG_DIR/lint.log" 2>&1; then LINT=ok; fi
tail -n 3 "$LOG_DIR/lint.log"
[[ $LINT != ok ]] && grep -E '^[A-Za-z0-9_./-]+\.go:[0-9]+' "$LOG_DIR/lint.log" | head -60

say "scripts/fuzz.sh   (FUZZTIME=${FUZZTIME:-2s} per target; log: $LOG_DIR/fuzz.log)"
if scripts/fuzz.sh >"$LOG_DIR/fuzz.log" 2>&1; then FUZZ=ok; fi
grep -E '^fuzz:' "$LOG_DIR/fuzz.log" | grep -v 'fuzz: ok' || true
[[ $FUZZ != ok ]] && grep -v '^fuzz: ok' "$LOG_DIR/fuzz.log" | tail -40

if [[ $BUILD == ok ]]; then
	say "LORE_E2E=1 go test -count=1 -p 1 ./e2e/ -v   (log: $LOG_DIR/e2e.log)"
	E2E=FAIL
	if LORE_E2E=1 LORE_CADDY_BIN="$ROOT/bin/caddy" go test -count=1 -p 1 -timeout 20m ./e2e/ -v 2>&1 | tee "$LOG_DIR/e2e.log" |
		grep -E '^(=== RUN|--- |ok|FAIL|PASS|e2e:)|^\s+--- '; then :; fi
	grep -qE '^ok\s' "$LOG_DIR/e2e.log" && ! grep -qE '^(FAIL|--- FAIL)' "$LOG_DIR/e2e.log" && E2E=ok
	[[ $E2E != ok ]] && failures "$LOG_DIR/e2e.log"
else
	say "bin/caddy did not build: end-to-end tests not run"
fi

say "scripts/docker.sh   (log: $LOG_DIR/docker.log)"
IMAGE=FAIL
if scripts/docker.sh 2>&1 | tee "$LOG_DIR/docker.log"; then
	if [[ "$(tail -n1 "$LOG_DIR/docker.log")" == "docker: skipped" ]]; then IMAGE=skipped; else IMAGE=ok; fi
fi

count() { cat "$LOG_DIR"/unit.log "$LOG_DIR"/e2e.log 2>/dev/null | grep -cE "^\s*--- $1:" || true; }
PASSED=$(count PASS) FAILED=$(count FAIL) SKIPPED=$(count SKIP)
say "build=$BUILD unit+integration=$UNIT lint=$LINT fuzz=$FUZZ e2e=$E2E image=$IMAGE"
echo "tests: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[[ $BUILD == ok && $UNIT == ok && $LINT == ok && $FUZZ == ok && $E2E == ok && $IMAGE != FAIL ]]
