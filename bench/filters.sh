#!/usr/bin/env bash
# Subscriber filters against none: fan-out at the maximum rate to SUBS subscribers of
# /api/stream/ws/flow, unfiltered, then spread over K distinct filters that every frame passes
# (uwbench --filters K), in alternation, REPS rounds, a fresh relay for every run. The same
# deliveries either way, so the difference is what the filters cost.
#
#   bench/filters.sh            REPS=5 SUBS=1000 K=10 SIZE=1024 DUR=5
#   DISJOINT=1                  also a run where each frame passes one filter of the K
#                               (uwbench --filters-disjoint): 1/K of the deliveries
#   BASE_BIN=/path/to/uwrelay   also run that binary unfiltered in each round (the build
#                               before filters existed: does the unfiltered path cost more?)
#
# Prints one line per run and the medians; raw results in $OUT/raw.jsonl. Loopback only, every
# run bounded by the tool's --timeout. Needs build-bench/uwbench (cmake -S bench -B build-bench)
# and a relay (UWRELAY_BIN, default build/uwrelay).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
REPS=${REPS:-5} SUBS=${SUBS:-1000} K=${K:-10} SIZE=${SIZE:-1024} DUR=${DUR:-5}
RELAY_CPU=${RELAY_CPU:-0} TOOL_CPU=${TOOL_CPU:-1}
P_RELAY=${BASE_PORT:-19460} P_UP=$((${BASE_PORT:-19460} + 1))
TOOL=$root/build-bench/uwbench
RELAY=${UWRELAY_BIN:-$root/build/uwrelay}
OUT=${OUT:-/tmp/uwbench-filters/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/uwbench-filters.XXXXXX)
ulimit -n "$(ulimit -Hn)"

pids=()
cleanup() {
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat > "$WORK/relay.yaml" <<YAML
listen: {address: 127.0.0.1, port: $P_RELAY}
upstream:
  url: ws://127.0.0.1:$P_UP/socket
  reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}
clients: {max_queue_bytes: 8388608, max_connections: 100000, max_per_ip: 100000, max_msg_rate: 10000}
log: {level: warn}
YAML

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "uwrelay $(git -C "$root" describe --always --dirty 2>/dev/null)" | tee "$OUT/machine.txt"

run() {	# rep name filters [binary [extra tool args]]
	local rep=$1 name=$2 k=$3 bin=${4:-$RELAY} tp rp status
	shift $(($# < 4 ? $# : 4))
	rm -f "$WORK/pid"
	taskset -c "$TOOL_CPU" "$TOOL" --target uw --listen "$P_UP" \
		--sub "ws://127.0.0.1:$P_RELAY/api/stream/ws/flow" --ready notice --pid-file "$WORK/pid" \
		--mode max --subs "$SUBS" --size "$SIZE" --inflight 128 --read prompt --stall 1 \
		--duration "$DUR" --warmup 1 --drain 3 --timeout 90 --src-ips 4 --per-ip 5000 \
		--filters "$k" --label "$name" "$@" > "$WORK/out.json" 2> "$WORK/out.err" &
	tp=$!
	pids=("$tp")
	UW_API_TOKEN=bench taskset -c "$RELAY_CPU" "$bin" -c "$WORK/relay.yaml" > "$WORK/relay.log" 2>&1 &
	rp=$!
	pids+=("$rp")
	echo "$rp" > "$WORK/pid"
	wait "$tp" || true
	# the relay's own counts: evaluations per frame received
	status=$("$py" -c 'import json,sys,urllib.request
s=json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/stream/status" % sys.argv[1], timeout=5))
f=s.get("filters", {})
print(json.dumps({"evaluations": f.get("evaluations", 0), "frames_in": s["uw_connection"]["frames_in"]}))' \
		"$P_RELAY" || echo '{}')
	kill -TERM "$rp" 2>/dev/null || true
	wait "$rp" 2>/dev/null || true
	pids=()
	"$py" -c 'import json,sys
r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); s=json.loads(sys.argv[2])
r.update(rep=int(sys.argv[3]), name=sys.argv[4], relay=s)
print(json.dumps(r))' "$WORK/out.json" "$status" "$rep" "$name" >> "$OUT/raw.jsonl" ||
		{ echo "run $name $rep: no result"; cat "$WORK/out.err" "$WORK/relay.log"; }
	tail -n1 "$WORK/out.err"
}

for rep in $(seq 1 "$REPS"); do
	if [ -n "${BASE_BIN:-}" ]; then run "$rep" base-unfiltered 0 "$BASE_BIN"; fi
	run "$rep" unfiltered 0
	run "$rep" "filters$K" "$K"
	if [ -n "${DISJOINT:-}" ]; then run "$rep" "filters$K-disjoint" "$K" "$RELAY" --filters-disjoint; fi
done

"$py" - "$OUT/raw.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["name"], []).append(r)
# On a shared machine the relay gets what CPU it can: its CPU time per delivery is the steadier
# figure of its cost; deliveries/s also measure the share of the cores it got.
print("\n| run | n | deliveries/s (median, min-max) | frames/s | evaluations/frame | evaluations/s | relay CPU % | relay CPU us/delivery (median, min-max) | relay CPU us/frame | p50 latency ms | gaps | dups |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
cost = {}
med = {}
for name, rs in by.items():
    d = [r["delivered_per_s"] for r in rs]
    f = [r["sent_per_s"] for r in rs]
    epf = [r["relay"].get("evaluations", 0) / max(1, r["relay"].get("frames_in", 1)) for r in rs]
    eps = [a * b for a, b in zip(f, epf)]
    cpu = [r.get("target_cpu_pct", -1) for r in rs]
    lat = [r["lat_p50_us"] / 1000 for r in rs]
    us = [c / 100 * 1e6 / x for c, x in zip(cpu, d) if x > 0 and c >= 0]
    usf = [c / 100 * 1e6 / x for c, x in zip(cpu, f) if x > 0 and c >= 0]
    med[name] = statistics.median(d)
    cost[name] = statistics.median(us)
    print("| %s | %d | %.0f (%.0f-%.0f) | %.0f | %.2f | %.0f | %.0f | %.3f (%.3f-%.3f) | %.0f | %.2f | %d | %d |" % (
        name, len(rs), statistics.median(d), min(d), max(d), statistics.median(f), statistics.median(epf),
        statistics.median(eps), statistics.median(cpu), statistics.median(us), min(us), max(us),
        statistics.median(usf), statistics.median(lat),
        sum(r["gaps"] for r in rs), sum(r["dups"] for r in rs)))
# ratio of medians, and the median of each round's ratio (a round's runs share the machine's state)
per = {}
for r in rows:
    per.setdefault(r["rep"], {})[r["name"]] = r["delivered_per_s"]
pairs = [(b, a) for a in by for b in by if a == "unfiltered" and b != a]
for b, a in pairs:
    ratios = [v[b] / v[a] for v in per.values() if a in v and b in v and v[a]]
    print("\n%s / %s deliveries/s: ratio of medians %.3f, median of per-round ratios %.3f (%s);"
          " CPU per delivery: ratio of medians %.3f" % (
        b, a, med[b] / med[a], statistics.median(ratios), ", ".join("%.3f" % x for x in ratios),
        cost[b] / cost[a]))
PY
