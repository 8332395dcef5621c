#!/usr/bin/env bash
# uwrelay's browser transports against each other, interleaved so every round shares the
# machine's conditions: WebSocket, Server-Sent Events and WebSocket with permessage-deflate.
#
#   bench/transports.sh fanout     SUBS subscribers x SIZE B at the maximum sustainable rate
#                                  (deliveries/s, bytes on the wire per delivery)
#   bench/transports.sh idle       IDLE_N idle subscribers: the relay's RSS per subscriber
#   bench/transports.sh report RAW print medians and ratios of a raw.jsonl
#
# Environment: REPS=5 DUR=5 SUBS=1000 SIZE=1024 IDLE_N=5000 PROTOS="ws sse deflate"
#   UWRELAY_BIN=path (default build/uwrelay)  RELAY_CPU=0 TOOL_CPU=1  BASE_PORT=19500
#   BASELINE_BIN=path   also run plain WebSocket on this (older) binary in every round ("ws@base")
#   OUT=dir (default /tmp/uwbench-transports/DATE)
# Loopback only; each run is bounded by the tool's --timeout; every process started here is
# stopped by its PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
REPS=${REPS:-5} DUR=${DUR:-5} SUBS=${SUBS:-1000} SIZE=${SIZE:-1024} IDLE_N=${IDLE_N:-5000}
PROTOS=${PROTOS:-ws sse deflate}
[ -n "${BASELINE_BIN:-}" ] && PROTOS="$PROTOS ws@base"
RELAY_CPU=${RELAY_CPU:-0} TOOL_CPU=${TOOL_CPU:-1} BASE_PORT=${BASE_PORT:-19500}
P_RELAY=$BASE_PORT P_UP=$((BASE_PORT + 1))
RELAY=${UWRELAY_BIN:-$root/build/uwrelay}
TOOL=$root/build-bench/uwbench
OUT=${OUT:-/tmp/uwbench-transports/$(date +%Y%m%d-%H%M%S)}

[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
if [ "$1" = report ]; then
	exec python3 - "$2" <<'PY'
import json, statistics, sys
rows = [r for r in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")) if "sub_proto" in r and "scenario" in r]
for sc in ("fanout", "idle"):
    rs = [r for r in rows if r["scenario"] == sc]
    if not rs:
        continue
    by = {}
    for r in rs:
        by.setdefault(r.get("name", r["sub_proto"]), []).append(r)
    med = lambda xs: statistics.median(xs) if xs else 0
    print("\n%s (%d rounds, medians; min..max)" % (sc, max(len(v) for v in by.values())))
    base = None
    for p in ("ws", "ws@base", "sse", "deflate"):
        v = by.get(p)
        if not v:
            continue
        if sc == "fanout":
            d = [r["delivered_per_s"] for r in v]
            b = [r["sub_bytes_per_delivery"] for r in v]
            cpu = [r["target_cpu_pct"] for r in v]
            # the relay's own cost, whatever held the subscribers back (a loaded machine, or
            # the tool inflating every message as a browser would)
            us = [r["target_cpu_pct"] / 100 / r["delivered_per_s"] * 1e6 for r in v if r["delivered_per_s"]]
            gaps = sum(r["gaps"] for r in v)
            base = base or (med(d), med(b), med(us))
            print("  %-8s %9.0f deliveries/s (%.0f..%.0f)  x%.2f   %7.1f B/delivery on the wire  x%.2f"
                  "   relay %.2f us CPU/delivery  x%.2f  (relay CPU %.0f%%, waited %.0f%%; tool %.0f%%)"
                  "  gaps %d  closed %d"
                  % (p, med(d), min(d), max(d), med(d) / base[0], med(b), med(b) / base[1],
                     med(us), med(us) / base[2], med(cpu), med([r["target_wait_pct"] for r in v]),
                     med([r["tool_cpu_pct"] for r in v]), gaps, sum(r["closed"] for r in v)))
        else:
            m = [r["rss_per_sub_bytes"] for r in v]
            base = base or med(m)
            print("  %-8s %7.0f B/subscriber (%.0f..%.0f)  x%.2f  (%d open)"
                  % (p, med(m), min(m), max(m), med(m) / base, v[0]["alive"]))
PY
fi

mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
WORK=$(mktemp -d /tmp/uwbench-tr.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)"
[ -x "$TOOL" ] || { cmake -S "$here" -B "$root/build-bench" >/dev/null && cmake --build "$root/build-bench" >/dev/null; }
{
	echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "uwrelay: $("$RELAY" --version 2>&1 | head -n1) ($(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'))"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

cat > "$WORK/relay.yaml" <<EOF
listen: {address: 127.0.0.1, port: $P_RELAY}
upstream: {url: "ws://127.0.0.1:$P_UP/socket", reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}}
clients: {max_queue_bytes: 8388608, max_connections: 100000, max_per_ip: 100000}
log: {level: warn}
EOF

run() {	# scenario proto rep tool-args...
	local sc=$1 proto=$2 rep=$3 path=/api/stream/ws/flow rp tp line bin=$RELAY name=$2; shift 3
	[ "$proto" = sse ] && path=/api/stream/sse/flow
	if [ "$proto" = ws@base ]; then bin=$BASELINE_BIN; proto=ws; fi
	rm -f "$WORK/pid"
	taskset -c "$TOOL_CPU" "$TOOL" --target uw --listen "$P_UP" --sub "ws://127.0.0.1:$P_RELAY$path" \
		--sub-proto "$proto" --ready notice --pid-file "$WORK/pid" --label "$sc-$proto" "$@" \
		> "$WORK/out.json" 2> "$WORK/out.err" &
	tp=$!; pids+=("$tp")
	UW_API_TOKEN=bench taskset -c "$RELAY_CPU" "$bin" -c "$WORK/relay.yaml" > "$WORK/relay.log" 2>&1 &
	rp=$!; pids+=("$rp")
	echo "$rp" > "$WORK/pid"
	wait "$tp" || true
	kill -TERM "$rp" 2>/dev/null || true
	wait "$rp" 2>/dev/null || true
	pids=()
	cat "$WORK/out.err" >&2
	line=$(tail -n1 "$WORK/out.json" 2>/dev/null || true)
	[ "${line:0:1}" = "{" ] && printf '{"scenario":"%s","name":"%s","rep":%s,%s\n' "$sc" "$name" "$rep" "${line:1}" >> "$RAW"
	return 0
}

for sc in "$@"; do
	for rep in $(seq 1 "$REPS"); do
		for proto in $PROTOS; do
			case $sc in
			fanout) run fanout "$proto" "$rep" --mode max --subs "$SUBS" --size "$SIZE" --inflight 128 \
					--read prompt --stall 1 --duration "$DUR" --warmup 1 --drain 3 --timeout 90 \
					--src-ips 4 --per-ip 5000 ;;
			idle) [ "$proto" = ws ] || [ "$proto" = sse ] || continue
				run idle "$proto" "$rep" --mode idle --subs "$IDLE_N" --duration 2 --timeout 120 \
					--src-ips 4 --per-ip 5000 ;;
			*) echo "unknown scenario $sc" >&2; exit 2 ;;
			esac
		done
	done
done
"$0" report "$RAW" | tee "$OUT/summary.txt"
echo "raw results: $RAW" >&2
