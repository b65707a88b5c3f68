#!/usr/bin/env bash
# bench/bench.sh — lore vs plain reverse_proxy in the same Caddy, same run.
#
# Starts (all on 127.0.0.1, all stopped on exit):
#   - the fake upstream binary (cmd/fakeupstream, zero delay),
#   - redis-server if installed (else lore uses its embedded store; the report says which),
#   - one Caddy (bin/caddy, built by scripts/build.sh when missing or stale) with two sites:
#     plain `reverse_proxy` to the fake (flush_interval -1, header_up Host) and `lore` to the fake.
# Then runs wrk at each concurrency for each case against both sites, interleaved:
#   title   tiny request (1 message, short system) — lore passes it through untouched
#   turn    stored conversation turn (system ≥ 500 chars, 7 messages with tool use), JSON
#   stream  the same turn with "stream": true (SSE)
# and prints p50/p99 latency, requests/s and the lore/reverse_proxy ratios.
#
# Env: BENCH_DURATION (default 10s per run), BENCH_CONNS (default "1 64"),
#      BENCH_REPEAT (default 1: each pair of runs is repeated, alternating, and the table shows the
#      medians; on a shared 2-core machine 5 gives medians that move by a few hundredths at
#      concurrency 64 and by up to ±0.1 at 1, where one pair of runs moves by up to ±0.3),
#      BENCH_CASES (default "title turn stream"), BENCH_STORE (auto|redis|embedded),
#      CADDY_BIN (default bin/caddy), BENCH_KEEP=1 keeps the work dir (logs),
#      BENCH_PROFILE=DIR writes a CPU profile of Caddy during the first lore run of each case to
#      DIR/<case>-<conns>.pprof and during the first reverse_proxy run to DIR/rp-<case>-<conns>.pprof
#      (read with `go tool pprof -top bin/caddy DIR/turn-64.pprof`), and of the fake upstream
#      during the same runs to DIR/fake-<case>-<conns>.pprof and DIR/fake-rp-<case>-<conns>.pprof.
#      BENCH_IDLE_TIMEOUT (default 0: lore's idle work off). The bench measures the request path.
#      With idle work on, the sessions of each run (thousands, one turn each) go idle together
#      idle_timeout later, and their background work (a distillation and a curation per session,
#      about 55 Redis commands and batched worker calls to the fake each) lands in whichever runs
#      come next, of either side: set it (e.g. 60s) to measure that too.
# Under the table, a second one gives the CPU time per request of each process (Caddy, the fake
# upstream, redis-server, wrk) on both sides, from /proc/<pid>/stat: at high concurrency the machine
# is saturated, so the latency ratio follows the ratio of the total CPU per request. A third gives,
# per lore request, redis-server's commands and read events (about one per round trip of a client;
# grouped turns share one) from INFO stats, and its minor page faults (first touches of memory
# redis-server had not used before: every request of the turn cases is a new session). With
# BENCH_REPEAT > 1 a fourth gives the p50 ratio of each alternating pair of runs: their spread is
# the noise of one pair on this machine, which the medians of the first table hide.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-1 64}"
CASES="${BENCH_CASES:-title turn stream}"
REPEAT="${BENCH_REPEAT:-1}"
STORE_WANT="${BENCH_STORE:-auto}"
CADDY="${CADDY_BIN:-$ROOT/bin/caddy}"

WORK="$(mktemp -d /tmp/lore-bench.XXXXXX)"
PIDS=()
cleanup() {
	local rc=$?
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[$i]}" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [[ "${BENCH_KEEP:-0}" == 1 || $rc -ne 0 || "${ERRORS:-0}" == 1 ]]; then
		echo "bench: work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# Ports come from below the kernel's ephemeral range: a port there may be a
# closed connection's, in TIME_WAIT after an earlier run, which a probe
# cannot see but a listener cannot bind.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port found"
	return 1
}

wait_port() { # host:port, seconds
	local hp=$1 secs=${2:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "nothing listening on $hp after ${secs}s"
	return 1
}

# ---- tools
if ! command -v wrk >/dev/null 2>&1; then
	if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing wrk"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		log "wrk not found (apt-get install wrk)"
		exit 1
	fi
fi
command -v curl >/dev/null 2>&1 || { log "curl not found"; exit 1; }

if [[ ! -x "$CADDY" ]] || [[ -n "$(find "$ROOT" -name '*.go' -not -name '*_test.go' -not -path '*/e2e/*' -not -path '*/.git/*' -newer "$CADDY" -print -quit 2>/dev/null)" ]] ||
	[[ "$ROOT/go.mod" -nt "$CADDY" ]]; then
	if [[ -z "${CADDY_BIN:-}" ]]; then
		log "building bin/caddy"
		"$ROOT/scripts/build.sh" >&2
	fi
fi
[[ -x "$CADDY" ]] || { log "no caddy binary at $CADDY"; exit 1; }

log "building the fake upstream"
(cd "$ROOT" && go build -o "$WORK/fakeupstream" ./cmd/fakeupstream)

# ---- processes
KEY="sk-ant-api03-bench$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
FAKE_PORT=$(free_port)
FAKE_PPROF=
[[ -z "${BENCH_PROFILE:-}" ]] || FAKE_PPROF="127.0.0.1:$(free_port)"
"$WORK/fakeupstream" -listen "127.0.0.1:$FAKE_PORT" -keys "$KEY" ${FAKE_PPROF:+-pprof "$FAKE_PPROF"} >"$WORK/fake.log" 2>&1 &
PIDS+=($!)
FAKE_PID=$!
wait_port "127.0.0.1:$FAKE_PORT"

# The fake records every request (with its body) for test assertions; clear
# that every second so its heap and GC work stay flat during long runs.
(while sleep 1; do curl -sS -o /dev/null -X POST "http://127.0.0.1:$FAKE_PORT/_fake/reset" 2>/dev/null || true; done) &
PIDS+=($!)

STORE=embedded
CADDYFILE="$BENCH/Caddyfile.embedded"
if [[ "$STORE_WANT" != embedded ]] && command -v redis-server >/dev/null 2>&1; then
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
		--daemonize no >"$WORK/redis.log" 2>&1 &
	PIDS+=($!)
	REDIS_PID=$!
	wait_port "127.0.0.1:$REDIS_PORT"
	STORE="redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)"
	CADDYFILE="$BENCH/Caddyfile"
	export BENCH_REDIS_ADDR="127.0.0.1:$REDIS_PORT"
elif [[ "$STORE_WANT" == redis ]]; then
	log "BENCH_STORE=redis but redis-server is not installed"
	exit 1
fi

RP_PORT=$(free_port)
LORE_PORT=$(free_port)
export BENCH_DIR="$WORK" BENCH_ADMIN="127.0.0.1:$(free_port)" BENCH_RP_PORT="$RP_PORT" BENCH_LORE_PORT="$LORE_PORT"
export BENCH_UPSTREAM_HOSTPORT="127.0.0.1:$FAKE_PORT" BENCH_IDLE_TIMEOUT="${BENCH_IDLE_TIMEOUT:-0}"
BENCH_CREDENTIAL_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BENCH_CREDENTIAL_KEY
(cd "$WORK" && HOME="$WORK" XDG_DATA_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" \
	exec "$CADDY" run --config "$CADDYFILE" --adapter caddyfile) >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
CADDY_PID=$!
wait_port "127.0.0.1:$RP_PORT" || { tail -n 30 "$WORK/caddy.log" >&2; exit 1; }
wait_port "127.0.0.1:$LORE_PORT" || { tail -n 30 "$WORK/caddy.log" >&2; exit 1; }

RP_URL="http://127.0.0.1:$RP_PORT"
LORE_URL="http://127.0.0.1:$LORE_PORT"

# ---- sanity: every case answers 200 on both sites
for c in $CASES; do
	for url in "$RP_URL" "$LORE_URL"; do
		code=$(sed "s/@@SID@@/sanity-$RANDOM/" "$BENCH/$c.json" | curl -sS -o "$WORK/sanity.out" -w '%{http_code}' \
			-H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -H "x-api-key: $KEY" \
			--data-binary @- "$url/v1/messages")
		if [[ "$code" != 200 ]]; then
			log "sanity check $c on $url: HTTP $code: $(head -c 300 "$WORK/sanity.out")"
			tail -n 20 "$WORK/caddy.log" >&2
			exit 1
		fi
	done
done

# ---- wrk
to_ms() { # "123.45us" | "1.2ms" | "1.5s" | "2m" -> ms
	awk -v v="$1" 'BEGIN {
		n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n = n / 1000; else if (u == "s") n = n * 1000; else if (u == "m") n = n * 60000
		printf "%.3f", n }'
}

# cpu_ticks PID -> user+system clock ticks the process has used (0 when it is gone or absent)
cpu_ticks() {
	[[ -n "${1:-}" && -r "/proc/$1/stat" ]] || { echo 0; return; }
	# the command name (field 2) may hold spaces: count fields after its closing parenthesis
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
TICK=$(getconf CLK_TCK)

# redis_counts -> "commands reads faults" of redis-server so far: commands processed, read events
# (about one per round trip of a client), and minor page faults (first touches of new memory);
# empty without redis-server or redis-cli.
redis_counts() {
	[[ -n "${REDIS_PID:-}" && -r "/proc/$REDIS_PID/stat" ]] && command -v redis-cli >/dev/null 2>&1 || return 0
	local faults
	faults=$(sed 's/.*) //' "/proc/$REDIS_PID/stat" | awk '{print $8}')
	redis-cli -p "$REDIS_PORT" info stats 2>/dev/null | tr -d '\r' | awk -F: -v f="$faults" '
		$1 == "total_commands_processed" { c = $2 } $1 == "total_reads_processed" { r = $2 }
		END { if (c != "") print c, r + 0, f }'
}

# run_wrk URL CONNS CASE -> "p50_ms p99_ms rps errors cpu redis" where cpu is
# "caddy/fake/redis/wrk" in microseconds of CPU per request and redis is redis-server's
# "commands/reads/faults" per request (redis_counts; "-" without redis-server or redis-cli).
run_wrk() {
	local url=$1 conns=$2 case=$3 threads session=none out
	threads=$((conns < 2 ? conns : 2))
	curl -sS -o /dev/null -X POST "http://127.0.0.1:$FAKE_PORT/_fake/reset"
	[[ "$case" == title ]] || session=unique
	local c0 f0 r0 w0 c1 f1 r1
	c0=$(cpu_ticks "$CADDY_PID") f0=$(cpu_ticks "$FAKE_PID") r0=$(cpu_ticks "${REDIS_PID:-}")
	local k0 k1
	k0=$(redis_counts)
	# wrk's own CPU: the children's ticks of this subshell, read by bash's `times`
	out=$( (BENCH_BODY="$BENCH/$case.json" BENCH_KEY="$KEY" BENCH_SESSION=$session BENCH_RUN="$RANDOM$RANDOM" \
		wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s "$BENCH/post.lua" "$url"; times) )
	c1=$(cpu_ticks "$CADDY_PID") f1=$(cpu_ticks "$FAKE_PID") r1=$(cpu_ticks "${REDIS_PID:-}")
	k1=$(redis_counts)
	echo "$out" >>"$WORK/wrk.log"
	local total wrk_s cpu
	total=$(echo "$out" | awk '/requests in/ {print $1}')
	# `times` prints two lines; the second is the children's "user system" as 0m1.234s
	wrk_s=$(echo "$out" | tail -n 1 | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }')
	cpu=$(awk -v n="${total:-0}" -v t="$TICK" -v c=$((c1 - c0)) -v f=$((f1 - f0)) -v r=$((r1 - r0)) -v w="$wrk_s" 'BEGIN {
		if (n <= 0) { print "-"; exit }
		printf "%.0f/%.0f/%.0f/%.0f", c / t * 1e6 / n, f / t * 1e6 / n, r / t * 1e6 / n, w * 1e6 / n }')
	# the reading itself (INFO) is one command and one read
	local redis=-
	[[ -z "$k0" || -z "$k1" || "${total:-0}" -le 0 ]] ||
		redis=$(awk -v n="$total" -v a="$k0" -v b="$k1" 'BEGIN { split(a, x, " "); split(b, y, " ")
			printf "%.2f/%.2f/%.2f", (y[1] - x[1] - 1) / n, (y[2] - x[2] - 1) / n, (y[3] - x[3]) / n }')
	local p50 p99 rps errs
	p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	rps=$(echo "$out" | awk '$1 == "Requests/sec:" {print $2}')
	# "<non-2xx>/<socket errors: connect+read+write+timeout>"
	errs=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {h += $NF} /Socket errors:/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10} END {printf "%d/%d", h, s}')
	echo "$(to_ms "$p50") $(to_ms "$p99") ${rps:-0} $errs $cpu $redis"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "store: $STORE; duration $DURATION per run; cases: $CASES; concurrency: $CONNS; load average $LOAD_START"
if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "WARNING: the machine is busy (load $LOAD_START on $(nproc) cpus); figures will be noisy"
fi
log "warming up"
for c in $CASES; do
	for url in "$RP_URL" "$LORE_URL"; do
		BENCH_BODY="$BENCH/$c.json" BENCH_KEY="$KEY" BENCH_SESSION=unique BENCH_RUN="warm$RANDOM" \
			wrk -t2 -c8 -d2s -s "$BENCH/post.lua" "$url" >/dev/null
	done
done

ROWS=()
CPUROWS=()
REDISROWS=()
PAIRROWS=()
ERRORS=0

# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# cpu_row CASE CONNS: the medians of RCPU and LCPU ("caddy/fake/redis/wrk" µs per request), per
# process and in total, and the lore/reverse_proxy ratio of the totals.
cpu_row() {
	local side i vals out=() tot=()
	for side in RCPU LCPU; do
		local -n runs=$side
		local parts=() sum=0 m
		for i in 1 2 3 4; do
			vals=()
			for r in "${runs[@]}"; do vals+=("$(echo "$r" | cut -d/ -f"$i" | sed 's/^-$/0/')"); done
			m=$(median "${vals[@]}")
			parts+=("$(printf '%.0f' "$m")")
			sum=$(awk -v a="$sum" -v b="$m" 'BEGIN { printf "%.0f", a + b }')
		done
		out+=("$(printf '%6s %5s %5s %5s %6s' "${parts[@]}" "$sum")")
		tot+=("$sum")
	done
	printf '%-7s %5s | %s | %s | %6s' "$1" "$2" "${out[0]}" "${out[1]}" "$(ratio "${tot[1]}" "${tot[0]}")"
}

# redis_row CASE CONNS: the medians of LREDIS (redis-server's commands, reads and minor page faults
# per lore request).
redis_row() {
	local i vals parts=()
	for i in 1 2 3; do
		vals=()
		for r in "${LREDIS[@]}"; do [[ "$r" == - ]] || vals+=("$(echo "$r" | cut -d/ -f"$i")"); done
		[[ ${#vals[@]} -gt 0 ]] || { printf '%-7s %5s | -' "$1" "$2"; return; }
		parts+=("$(printf '%.2f' "$(median "${vals[@]}")")")
	done
	printf '%-7s %5s | %8s %8s %8s' "$1" "$2" "${parts[@]}"
}

# pair_row CASE CONNS: the p50 ratio of each alternating pair of runs (R50[i], L50[i]: one
# reverse_proxy run and the lore run right after it, under the same machine conditions), as their
# median and their range: how far one pair moves from the next.
pair_row() {
	local i x r=() m
	for ((i = 0; i < ${#R50[@]}; i++)); do
		x=$(ratio "${L50[$i]}" "${R50[$i]}")
		[[ "$x" == - ]] || r+=("$x") # a run without a p50 (errors) has no ratio
	done
	((${#r[@]})) || { printf '%-7s %5s | -' "$1" "$2"; return; }
	m=$(median "${r[@]}")
	printf '%-7s %5s | %6.2f %6s %6s | %s' "$1" "$2" "$m" "$(printf '%s\n' "${r[@]}" | sort -g | head -n1)" \
		"$(printf '%s\n' "${r[@]}" | sort -g | tail -n1)" "${r[*]}"
}

# profile NAME starts CPU profiles of Caddy and of the fake upstream for the run about
# to start, written to $BENCH_PROFILE/NAME.pprof and $BENCH_PROFILE/fake-NAME.pprof
# (PROF_PID lists the pids to wait for).
profile() {
	PROF_PID=
	[[ -n "${BENCH_PROFILE:-}" ]] || return 0
	mkdir -p "$BENCH_PROFILE"
	local secs=$(($(to_ms "$DURATION" | cut -d. -f1) / 1000 - 1))
	secs=$((secs > 0 ? secs : 1))
	curl -sS -o "$BENCH_PROFILE/$1.pprof" "http://$BENCH_ADMIN/debug/pprof/profile?seconds=$secs" &
	PROF_PID=$!
	curl -sS -o "$BENCH_PROFILE/fake-$1.pprof" "http://$FAKE_PPROF/debug/pprof/profile?seconds=$secs" &
	PROF_PID="$PROF_PID $!"
}

for c in $CASES; do
	for n in $CONNS; do
		PROF_PID=
		R50=() R99=() RRPS=() L50=() L99=() LRPS=() RCPU=() LCPU=() LREDIS=()
		status=ok
		for ((rep = 1; rep <= REPEAT; rep++)); do
			log "$c c=$n: reverse_proxy (run $rep of $REPEAT)"
			[[ $rep == 1 ]] && profile "rp-$c-$n"
			read -r rp50 rp99 rprps rperr rpcpu _ <<<"$(run_wrk "$RP_URL" "$n" "$c")"
			[[ -z "$PROF_PID" ]] || wait $PROF_PID || log "no profile for reverse_proxy $c c=$n"
			log "$c c=$n: lore (run $rep of $REPEAT)"
			[[ $rep == 1 ]] && profile "$c-$n"
			read -r lo50 lo99 lorps loerr locpu loredis <<<"$(run_wrk "$LORE_URL" "$n" "$c")"
			[[ -z "$PROF_PID" ]] || wait $PROF_PID || log "no profile for $c c=$n"
			if [[ "$rperr" != 0/0 || "$loerr" != 0/0 ]]; then
				status="errors non2xx/socket: rp=$rperr lore=$loerr"
				ERRORS=1
			fi
			R50+=("$rp50") R99+=("$rp99") RRPS+=("$rprps") L50+=("$lo50") L99+=("$lo99") LRPS+=("$lorps")
			RCPU+=("$rpcpu") LCPU+=("$locpu") LREDIS+=("$loredis")
		done
		rp50=$(median "${R50[@]}") rp99=$(median "${R99[@]}") rprps=$(median "${RRPS[@]}")
		lo50=$(median "${L50[@]}") lo99=$(median "${L99[@]}") lorps=$(median "${LRPS[@]}")
		ROWS+=("$(printf '%-7s %5s | %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %s' \
			"$c" "$n" "$rp50" "$lo50" "$(ratio "$lo50" "$rp50")" "$rp99" "$lo99" "$(ratio "$lo99" "$rp99")" \
			"$rprps" "$lorps" "$(ratio "$lorps" "$rprps")" "$status")")
		CPUROWS+=("$(cpu_row "$c" "$n")")
		REDISROWS+=("$(redis_row "$c" "$n")")
		((REPEAT < 2)) || PAIRROWS+=("$(pair_row "$c" "$n")")
	done
done

CPU="$(nproc) cpu, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')"
echo
echo "lore vs reverse_proxy — $("$CADDY" version | awk '{print $1}'), lore store: $STORE, wrk ${DURATION}/run, median of $REPEAT alternating run(s) per side, $CPU"
echo "load average before/after: $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) (wrk, Caddy, fake upstream and redis share the machine); lore idle_timeout $BENCH_IDLE_TIMEOUT"
echo "latency in ms; ratio = lore / reverse_proxy (targets: title p50 ≤ 1.10, turn p50 ≤ 1.5)"
printf '%-7s %5s | %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %s\n' \
	case conns "rp p50" "lore p50" ratio "rp p99" "lore p99" ratio "rp rps" "lore rps" ratio status
printf '%s\n' "--------------+---------------------------+---------------------------+---------------------------+-------"
printf '%s\n' "${ROWS[@]}"
echo
echo "CPU per request in µs (median of the runs): caddy, fake upstream, redis-server, wrk, and their total"
printf '%-7s %5s | %-30s | %-30s | %s\n' case conns "reverse_proxy" "lore" "total ratio"
printf '%-7s %5s | %6s %5s %5s %5s %6s | %6s %5s %5s %5s %6s |\n' "" "" caddy fake redis wrk total caddy fake redis wrk total
printf '%s\n' "${CPUROWS[@]}"
if [[ -n "${REDIS_PID:-}" ]] && command -v redis-cli >/dev/null 2>&1; then
	echo
	echo "redis-server per lore request (median of the runs): commands, reads (≈ round trips) and minor page faults"
	printf '%-7s %5s | %8s %8s %8s\n' case conns commands reads faults
	printf '%s\n' "${REDISROWS[@]}"
fi
if ((REPEAT > 1)); then
	echo
	echo "p50 ratio of each alternating pair (a reverse_proxy run, then the lore run after it): median, lowest, highest, all"
	printf '%-7s %5s | %6s %6s %6s | %s\n' case conns median low high "pairs in run order"
	printf '%s\n' "${PAIRROWS[@]}"
fi
if [[ $ERRORS == 1 ]]; then
	echo "some runs had errors (wrk's timeout is 2s); wrk output and logs are in $WORK"
fi
