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
	"./handler/translate FuzzParseRequestMatchesEncodingJSON"
	"./handler/translate FuzzSystemText"
	"./handler/translate FuzzSSE"
	"./handler/translate FuzzDeltaFastPath"
	"./handler/translate FuzzOpenAIRequest"
	"./handler/translate FuzzOpenAIStream"
	"./msg FuzzDecodeMatchesEncodingJSON"
	"./batching FuzzResultLines"
	"./session FuzzClientID"
	". FuzzCaddyfile"
)
failed=0
for t in "${TARGETS[@]}"; do
	read -r pkg name <<<"$t"
	if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
		echo "fuzz: ok   $name ($pkg, $FUZZTIME)"
	else
		echo "fuzz: FAIL $name ($pkg)"
		echo "$out" | grep -v '^{' | tail -20
		failed=$((failed + 1))
	fi
done
echo "fuzz: ${#TARGETS[@]} targets, $failed failed"
[[ $failed == 0 ]]
