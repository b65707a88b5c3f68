#!/usr/bin/env bash
# Runs every fuzz target of the parsers that read client or upstream bytes,
# and of the Caddyfile parser, for FUZZTIME each (default 2s; scripts/test.sh
# runs it so). A longer run, e.g. before a release:
#   FUZZTIME=10m scripts/fuzz.sh
# New failing inputs are written to the package's testdata/fuzz/<Target>/
# (commit them with the fix); the committed corpora there run as ordinary
# test cases in every `go test`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME="${FUZZTIME:-2s}"
TARGETS=(
	"./internal/jsonscan FuzzSkipValueMatchesEncodingJSON"
	"./internal/jsonscan FuzzStringMatchesEncodingJSON"
	"./internal/jsonscan FuzzTooDeepIsFinal"
	"./handler FuzzPrefixVerdictIsFinal"
	"./handler/translate FuzzParseRequestMatchesEncodingJSON"
	"./handler/translate FuzzSystemText"
	"./handler/translate FuzzSSE"
	"./handler/translate FuzzDeltaFastPath"
	"./handler/translate FuzzOpenAIRequest"
	"./handler/translate FuzzOpenAIStream"
	"./msg FuzzDecodeMatchesEncodingJSON"
	"./gradient FuzzCanonicalString"
	"./gradient FuzzAppendJSON"
	"./batching FuzzResultLines"
	"./session FuzzClientID"
	". FuzzCaddyfile"
)
failed=0
# corpus lists the failing inputs committed or written for a target.
corpus() { ls "$1/testdata/fuzz/$2" 2>/dev/null | sort; }
for t in "${TARGETS[@]}"; do
	read -r pkg name <<<"$t"
	before=$(corpus "$pkg" "$name")
	if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
		echo "fuzz: ok   $name ($pkg, $FUZZTIME)"
	elif [[ "$(corpus "$pkg" "$name")" == "$before" ]] && echo "$out" | grep -q '^    context deadline exceeded$'; then
		# Go 1.26's fuzz coordinator can report its own -fuzztime deadline
		# as a failure (golang/go#75804, fixed in Go 1.27): no input
		# failed and none was written, so the target did not fail.
		echo "fuzz: ok   $name ($pkg, $FUZZTIME; the coordinator's deadline race, golang/go#75804, no failing input)"
	else
		echo "fuzz: FAIL $name ($pkg)"
		echo "$out" | grep -v '^{' | tail -20
		failed=$((failed + 1))
	fi
done
echo "fuzz: ${#TARGETS[@]} targets, $failed failed"
[[ $failed == 0 ]]
