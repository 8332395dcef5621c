#!/usr/bin/env bash
# uwrelay benchmarks: uwrelay against nchan, the plan's FastAPI design and the loopback ceiling.
#
#   bench/run.sh all            every scenario, REPS rounds (default 3); about 40 minutes
#   bench/run.sh quick          a smaller set, 1 round, short runs; under 3 minutes
#   bench/run.sh fanout|latency|idle|ingest ...   just those scenarios
#   bench/run.sh report FILE    print the tables again from a raw.jsonl
#
# Environment (all optional):
#   REPS=3 DUR=5 WARMUP=1    rounds and seconds per measured run
#   SUBS="1 100 1000 10000" SIZES="200 1024"   fan-out grid
#   TARGETS="uwrelay nchan fastapi ceiling"     what to run
#   IDLE_N=...               idle sockets (default: the fd hard limit less 1000)
#   INFLIGHT=K               frames in flight in max mode (default: 128, 16 at 10,000 subs)
#   READS="prompt batch"     how the fan-out subscribers read
#   RELAY_CPU=0 TOOL_CPU=1   cores for the target and for the load tool
#   UWRELAY_BIN=path         use this binary instead of building /tmp/benchrelay
#   TAPE=1                   uwrelay also records flow-alerts to a tape (a new file each run)
#   OUT=dir                  where raw.jsonl and tables.md go (default /tmp/uwbench-results/DATE)
#   UPDATE_DOC=1             also replace the results section of docs/BENCHMARKS.md
#   BASE_PORT=19400          ports BASE..BASE+5 on 127.0.0.1
#
# Everything listens on 127.0.0.1 only; every run is bounded in time by the tool's --timeout.
# Each measurement starts its target afresh (so peak RSS is that run's), and the targets of one
# grid point run back to back in one round, so a round's ratios share the machine's conditions.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

REPS=${REPS:-3}
DUR=${DUR:-5}
WARMUP=${WARMUP:-1}
RELAY_CPU=${RELAY_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
BASE_PORT=${BASE_PORT:-19400}
P_RELAY=$BASE_PORT P_UP=$((BASE_PORT + 1)) P_NCHAN=$((BASE_PORT + 2)) P_FAPI=$((BASE_PORT + 3))

ulimit -n "$(ulimit -Hn)"
HARD=$(ulimit -Hn)

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage

if [ "$1" = report ]; then
	exec "$py" "$here/report.py" "${2:?raw.jsonl}"
fi

OUT=${OUT:-/tmp/uwbench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
WORK=$(mktemp -d /tmp/uwbench.XXXXXX)
TOOL=$root/build-bench/uwbench
RELAY=${UWRELAY_BIN:-/tmp/benchrelay/uwrelay}

# ---- cleanup: only what this script started, by PID ----
started_pids=()	# running now (cleared once waited for, so a reused PID is never hit)
cleanup() {
	for p in "${started_pids[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	"$here/peers/nchan.sh" stop "$P_NCHAN" >/dev/null 2>&1 || true
	"$here/peers/fastapi.sh" stop "$P_FAPI" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build ----
build() {
	log "building the load tool (build-bench/) and uwrelay (/tmp/benchrelay)"
	cmake -S "$here" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$root/build-bench" >/dev/null
	if [ -z "${UWRELAY_BIN:-}" ]; then
		cmake -B /tmp/benchrelay -S "$root" -DCMAKE_BUILD_TYPE=Release >/dev/null
		cmake --build /tmp/benchrelay -j2 --target uwrelay >/dev/null
	fi
}

machine() {
	local v
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores"
		echo "kernel: $(uname -r)"
		echo "uwrelay: $("$RELAY" --version 2>&1 | head -n1) ($(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'))"
		for v in libwebsockets17 nginx libnginx-mod-nchan python3-fastapi python3-uvicorn python3-websockets python3-starlette; do
			echo "$v: $(dpkg-query -W -f='${Version}' "$v" 2>/dev/null || echo 'not installed')"
		done
		echo "python: $($py --version 2>&1)"
		echo "fd hard limit: $HARD"
		echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	} | tee "$OUT/machine.txt" >&2
}

relay_config() {
	cat > "$WORK/relay.yaml" <<EOF
listen: {address: 127.0.0.1, port: $P_RELAY}
upstream:
  url: ws://127.0.0.1:$P_UP/socket
  reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}
clients: {max_queue_bytes: 8388608, max_connections: 100000, max_per_ip: 100000}
log: {level: warn}
EOF
	# TAPE=1: the benchmarked channel is also recorded (README, "Your tape"), into a new file
	if [ "${TAPE:-0}" = 1 ]; then
		rm -f "$WORK"/tape.db*
		cat >> "$WORK/relay.yaml" <<EOF
tape: {path: $WORK/tape.db, channels: [flow-alerts], retention: {max_age: 0, max_bytes: 0}}
EOF
	fi
}

# With TAPE=1, after a run: what the tape holds, beside what the tool counted.
tape_report() {
	[ "${TAPE:-0}" = 1 ] || return 0
	"$py" - "$WORK/tape.db" "$1" <<'PY' >&2 || true
import os, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
n, = db.execute("SELECT COUNT(*) FROM frames").fetchone()
size = sum(os.path.getsize(sys.argv[1] + x) for x in ("", "-wal") if os.path.exists(sys.argv[1] + x))
line = open(sys.argv[2]).read().strip().splitlines()[-1:] or ["{}"]
print("  tape: %d frames recorded, %.1f MB on disk (%s)" % (n, size / 1e6, line[0][:160]))
PY
}

# Tags the tool's JSON with the scenario and target, and appends it to raw.jsonl.
record() {	# scenario target rep jsonfile
	local line
	line=$(tail -n1 "$4" 2>/dev/null || true)
	if [ -z "$line" ] || [ "${line:0:1}" != "{" ]; then
		log "  $2: no result (see $OUT/fail-$1-$2-$3.log)"
		cp "$4" "$OUT/fail-$1-$2-$3.log" 2>/dev/null || true
		[ -f "$4.err" ] && cat "$4.err" >> "$OUT/fail-$1-$2-$3.log"
		return 0
	fi
	printf '{"scenario":"%s","name":"%s","rep":%s,%s\n' "$1" "$2" "$3" "${line:1}" >> "$RAW"
}

# The tool runs in the background and is waited for, so that INT/TERM reach the trap at once
# and the cleanup can end it by PID (taskset execs the tool: $! is the tool itself).
tool_bg() {
	taskset -c "$TOOL_CPU" "$TOOL" "$@" &
	tool_pid=$!
	started_pids+=("$tool_pid")
}
tool() {
	tool_bg "$@"
	wait "$tool_pid" || true
}

# run_TARGET SCENARIO REP TOOL-ARGS...
run_uwrelay() {
	local sc=$1 rep=$2 rp; shift 2
	relay_config
	rm -f "$WORK/pid"
	tool_bg --target uw --listen "$P_UP" --sub "ws://127.0.0.1:$P_RELAY/api/stream/ws/flow" \
		--ready notice --pid-file "$WORK/pid" --label "$sc" "$@" > "$WORK/out.json" 2> "$WORK/out.json.err"
	local tp=$tool_pid
	UW_API_TOKEN=bench taskset -c "$RELAY_CPU" "$RELAY" -c "$WORK/relay.yaml" > "$WORK/relay.log" 2>&1 &
	rp=$!
	started_pids+=("$rp")
	echo "$rp" > "$WORK/pid"
	wait "$tp" || true
	kill -TERM "$rp" 2>/dev/null || true
	wait "$rp" 2>/dev/null || true
	started_pids=()
	grep -v 'plain ws://\|connect failed\|connection lost' "$WORK/relay.log" | head -n 5 >&2 || true
	tape_report "$WORK/out.json"
	cat "$WORK/out.json.err" >&2
	record "$sc" uwrelay "$rep" "$WORK/out.json"
}

run_nchan() {
	local sc=$1 rep=$2 wp; shift 2
	wp=$(taskset -c "$RELAY_CPU" "$here/peers/nchan.sh" start "$P_NCHAN")
	tool --target pub --pub "ws://127.0.0.1:$P_NCHAN/pub" --sub "ws://127.0.0.1:$P_NCHAN/sub" \
		--pid "$wp" --label "$sc" "$@" > "$WORK/out.json" 2> "$WORK/out.json.err"
	started_pids=()
	"$here/peers/nchan.sh" stop "$P_NCHAN"
	cat "$WORK/out.json.err" >&2
	record "$sc" nchan "$rep" "$WORK/out.json"
}

run_fastapi() {
	local sc=$1 rep=$2 fp; shift 2
	rm -f "$WORK/pid"
	# the plan connects upstream once at start-up: our UW server must be listening first
	tool_bg --target uw --listen "$P_UP" --sub "ws://127.0.0.1:$P_FAPI/api/stream/ws/flow" \
		--ack-once --pid-file "$WORK/pid" --label "$sc" "$@" --stall 10 > "$WORK/out.json" 2> "$WORK/out.json.err"
	local tp=$tool_pid
	sleep 0.2
	if fp=$(taskset -c "$RELAY_CPU" "$here/peers/fastapi.sh" start "$P_FAPI" "$P_UP"); then
		echo "$fp" > "$WORK/pid"
	fi
	wait "$tp" || true
	started_pids=()
	"$here/peers/fastapi.sh" stop "$P_FAPI"
	cat "$WORK/out.json.err" >&2
	record "$sc" fastapi "$rep" "$WORK/out.json"
}

run_ceiling() {	# one send() per frame
	local sc=$1 rep=$2; shift 2
	tool "$@" --mode ceiling --writer-cpu "$RELAY_CPU" --label "$sc" > "$WORK/out.json" 2> "$WORK/out.json.err"
	started_pids=()
	cat "$WORK/out.json.err" >&2
	record "$sc" ceiling "$rep" "$WORK/out.json"
}

run_ceiling16() {	# 16 frames per send()
	local sc=$1 rep=$2; shift 2
	tool "$@" --mode ceiling --ceil-batch 16 --writer-cpu "$RELAY_CPU" --label "$sc" > "$WORK/out.json" 2> "$WORK/out.json.err"
	started_pids=()
	cat "$WORK/out.json.err" >&2
	record "$sc" ceiling16 "$rep" "$WORK/out.json"
}

has_target() { [[ " ${TARGETS:-uwrelay nchan fastapi ceiling} " == *" $1 "* ]]; }

# Frames in flight for N subscribers: enough to keep the target busy, not so many that the
# queues (K x N messages) take seconds to drain: 128 up to 1,000 subscribers, 16 at 10,000.
inflight_for() {
	local k
	if [ -n "${INFLIGHT:-}" ]; then echo "$INFLIGHT"; return; fi
	k=$((128000 / $1))
	[ $k -gt 128 ] && k=128
	[ $k -lt 16 ] && k=16
	echo $k
}

# Seconds without progress of the slowest subscriber before the tool gives up the window
# (a "stall"): 0.5 s, plus the time a full fan-out legitimately takes at 10,000 subscribers.
stall_for() {
	awk -v n="$1" 'BEGIN { printf "%.1f", 0.5 + n / 2000 }'
}

# max rate, bounded in flight; subs x sizes; each target in turn within a round.
# Reading "prompt" runs every target and both ceilings; "batch" all but the FastAPI plan (far
# from either limit).
scenario_fanout() {
	local rep n sz to read
	for rep in $(seq 1 "$REPS"); do
		for n in ${SUBS:-1 100 1000 10000}; do
			for sz in ${SIZES:-200 1024}; do
				to=$((60 + n / 100))
				for read in ${READS:-prompt batch}; do
					log "fanout round $rep: $n subscribers x $sz B, read $read"
					local args=(--mode max --subs "$n" --size "$sz" --inflight "$(inflight_for "$n")" --read "$read" --stall "$(stall_for "$n")"
						--duration "$DUR" --warmup "$WARMUP" --drain 3 --timeout "$to" --src-ips 4 --per-ip 5000)
					has_target uwrelay && run_uwrelay fanout "$rep" "${args[@]}"
					has_target nchan && run_nchan fanout "$rep" "${args[@]}"
					[ "$read" = prompt ] && has_target fastapi && run_fastapi fanout "$rep" "${args[@]}"
					if has_target ceiling; then
						run_ceiling fanout "$rep" "${args[@]}"
						run_ceiling16 fanout "$rep" "${args[@]}"
					fi
				done
			done
		done
	done
}

# fixed rate, for latency: 1,000 subscribers x 100 frames/s x 1 KB
scenario_latency() {
	local rep n=${LAT_SUBS:-1000} r=${LAT_RATE:-100} d=$((DUR * 2))
	for rep in $(seq 1 "$REPS"); do
		log "latency round $rep: $n subscribers x $r frames/s x 1 KB"
		local args=(--mode rate --rate "$r" --subs "$n" --size 1024 --duration "$d" --warmup "$WARMUP"
			--drain 3 --timeout 90 --src-ips 4 --per-ip 5000)
		has_target uwrelay && run_uwrelay latency "$rep" "${args[@]}"
		has_target nchan && run_nchan latency "$rep" "${args[@]}"
		has_target fastapi && run_fastapi latency "$rep" "${args[@]}"
		if has_target ceiling; then
			run_ceiling latency "$rep" --subs "$n" --size 1024 --inflight 1 \
				--duration "$d" --warmup "$WARMUP" --timeout 90
		fi
	done
}

# idle sockets up to the fd limit: RSS per subscriber
scenario_idle() {
	local rep n=${IDLE_N:-$((HARD - 1000))}
	for rep in $(seq 1 "$REPS"); do
		log "idle round $rep: $n idle subscribers"
		local args=(--mode idle --subs "$n" --duration 2 --timeout 240 --src-ips 4 --per-ip 5000)
		has_target uwrelay && run_uwrelay idle "$rep" "${args[@]}"
		has_target nchan && run_nchan idle "$rep" "${args[@]}"
		has_target fastapi && run_fastapi idle "$rep" "${args[@]}"
	done
}

# ingest: upstream frames/s parsed and relayed, 1 subscriber read in batches, many in flight
scenario_ingest() {
	local rep sz
	for rep in $(seq 1 "$REPS"); do
		for sz in ${SIZES:-200 1024}; do
			log "ingest round $rep: 1 subscriber x $sz B"
			local args=(--mode max --subs 1 --size "$sz" --inflight 2048 --read batch --batch-us 200
				--duration "$DUR" --warmup "$WARMUP" --drain 3 --timeout 60)
			has_target uwrelay && run_uwrelay ingest "$rep" "${args[@]}"
			has_target nchan && run_nchan ingest "$rep" "${args[@]}"
			has_target fastapi && run_fastapi ingest "$rep" "${args[@]}"
			if has_target ceiling; then
				run_ceiling16 ingest "$rep" "${args[@]}"
			fi
		done
	done
}

t0=$(date +%s)
build
machine
case $1 in
all)
	set -- fanout latency idle ingest
	;;
quick)
	REPS=1 DUR=${DUR_QUICK:-2} WARMUP=0.5
	SUBS=${SUBS:-"1 1000"} SIZES=${SIZES:-1024} IDLE_N=${IDLE_N:-5000} READS=${READS:-prompt}
	set -- fanout latency idle ingest
	;;
esac
for s in "$@"; do
	case $s in
	fanout|latency|idle|ingest) "scenario_$s" ;;
	*) echo "unknown scenario: $s" >&2; usage ;;
	esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
echo "wall time: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/machine.txt" >&2
"$py" "$here/report.py" "$RAW" "$OUT/machine.txt" | tee "$OUT/tables.md"
if [ "${UPDATE_DOC:-0}" = 1 ]; then
	"$py" "$here/report.py" --update-doc "$root/docs/BENCHMARKS.md" "$RAW" "$OUT/machine.txt"
fi
log "raw results: $RAW; tables: $OUT/tables.md"
