#!/usr/bin/env python3
"""Markdown tables from bench/run.sh's raw.jsonl (standard library only).

    report.py RAW.jsonl [machine.txt]                  print the tables
    report.py --update-doc docs/BENCHMARKS.md RAW.jsonl [machine.txt]
        replace what sits between <!-- results:begin --> and <!-- results:end -->

Every figure is the median over rounds; a ratio is the median of the per-round ratios (the
targets of one grid point run back to back, so a round's ratio shares the machine's load).
"""
import json
import re
import statistics
import sys
from collections import defaultdict

NAMES = {"uwrelay": "uwrelay", "nchan": "nchan", "fastapi": "FastAPI plan",
         "ceiling": "ceiling 1/send", "ceiling16": "ceiling 16/send"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return "%.2f M" % (v / 1e6)
    if v >= 1e4:
        return "%.0f k" % (v / 1e3)
    if v >= 1e3:
        return "%.1f k" % (v / 1e3)
    return "%.0f" % v


def fmt_ms(us):
    if us is None:
        return "–"
    ms = us / 1000.0
    return "%.2f" % ms if ms < 10 else "%.0f" % ms


def fmt_ratio(v):
    return "–" if v is None else "%.2f×" % v


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def ratios(by_rep, a, b, key="delivered_per_s"):
    out = []
    for rep, tg in by_rep.items():
        if a in tg and b in tg and tg[b].get(key):
            out.append(tg[a][key] / tg[b][key])
    return med(out)


def fanout(rows, goals):
    out = []
    grid = defaultdict(lambda: defaultdict(dict))	# (subs,size,read) -> rep -> name -> row
    for r in rows:
        if r["scenario"] == "fanout":
            grid[(r["subs"], r["size"], r["read"])][r["rep"]][r["name"]] = r
    if not grid:
        return out
    reads = sorted({k[2] for k in grid}, key=lambda r: r != "prompt")	# prompt first: the goals use it
    out.append("### Fan-out at the maximum sustainable rate\n")
    out.append("Delivered frames/s summed over all subscribers (median of rounds); the sender keeps "
               "at most `inflight` frames not yet received by the slowest subscriber. Sizes are the "
               "upstream frame; subscribers get it in uwrelay's envelope (+~90 B; nchan and the "
               "ceiling are sent the same envelope bytes). Ceiling = no relay: a writer on the relay's "
               "core sends the same frames straight into the subscriber sockets.\n")
    for read in reads:
        out.append("Reading %s.\n" % ("as soon as readable (prompt)" if read == "prompt"
                                      else "in batches (subscriber sockets polled every few hundred µs)"))
        ceil = "ceiling" if read == "prompt" else "ceiling16"
        out.append("| subscribers | size | uwrelay | nchan | FastAPI plan | ceiling 1/send | ceiling 16/send "
                   "| uwrelay ÷ nchan | uwrelay ÷ FastAPI | uwrelay ÷ %s |" % NAMES[ceil])
        out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key in sorted(k for k in grid if k[2] == read):
            by_rep = grid[key]
            cells = []
            for name in ("uwrelay", "nchan", "fastapi", "ceiling", "ceiling16"):
                cells.append(fmt_rate(med([tg[name]["delivered_per_s"] for tg in by_rep.values() if name in tg])))
            rn = ratios(by_rep, "uwrelay", "nchan")
            rf = ratios(by_rep, "uwrelay", "fastapi")
            rc = ratios(by_rep, "uwrelay", ceil)
            out.append("| {:,} | {} B | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                key[0], key[1], *cells, fmt_ratio(rn), fmt_ratio(rf), fmt_ratio(rc)))
            if read == reads[0] and key[1] == 1024 and key[0] == 1000:
                goals.append(("1,000 subs × 1 KB: uwrelay ≥ 1.5× nchan", rn, rn is not None and rn >= 1.5))
                goals.append(("1,000 subs × 1 KB: uwrelay ≥ 6× FastAPI plan", rf, rf is not None and rf >= 6))
            if read == reads[0] and key[0] == 10000:
                goals.append(("10,000 subs × %d B: uwrelay ≥ 1.2× nchan" % key[1], rn,
                              rn is not None and rn >= 1.2))
        out.append("")
    out.append("Details (medians; CPU is % of one core over the measured window, from /proc for the "
               "target and getrusage for the load tool; RSS is the target's peak, VmHWM):\n")
    out.append("| subscribers | size | read | target | deliv/s (min–max) | p50 ms | p99 ms | gaps | "
               "not received by the end | stalls | closed | target CPU (waiting) | tool CPU | peak RSS |")
    out.append("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    gaps_total = defaultdict(int)
    for key in sorted(grid):
        by_rep = grid[key]
        for name in ("uwrelay", "nchan", "fastapi", "ceiling", "ceiling16"):
            rs = [tg[name] for tg in by_rep.values() if name in tg]
            if not rs:
                continue
            d = [r["delivered_per_s"] for r in rs]
            gaps = sum(r["gaps"] for r in rs)
            gaps_total[name] += gaps
            tcpu = med([r["target_cpu_pct"] for r in rs if r["target_cpu_pct"] >= 0])
            twait = med([r.get("target_wait_pct", -1) for r in rs if r.get("target_wait_pct", -1) >= 0])
            tool = med([r["tool_cpu_pct"] for r in rs])
            rss = med([r["target_hwm_kib"] for r in rs if r["target_hwm_kib"]])
            closed = sum(r["closed"] for r in rs)
            codes = {}
            for r in rs:
                for c, k in r.get("close_codes", {}).items():
                    codes[c] = codes.get(c, 0) + k
            out.append("| {:,} | {} B | {} | {} | {} ({}–{}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                key[0], key[1], key[2], NAMES[name], fmt_rate(med(d)), fmt_rate(min(d)), fmt_rate(max(d)),
                fmt_ms(med([r["lat_p50_us"] for r in rs])), fmt_ms(med([r["lat_p99_us"] for r in rs])),
                gaps, sum(r["tail_missing"] for r in rs), sum(r["stalls"] for r in rs),
                "%d%s" % (closed, (" (" + ", ".join("%s×%s" % (k, c) for c, k in codes.items()) + ")") if codes else ""),
                "–" if tcpu is None else ("%.0f %%" % tcpu) + ("" if twait is None else " (%.0f %%)" % twait),
                "%.0f %%%s" % (tool, " **tool-bound**" if tool >= 85 else ""),
                "–" if not rss else "%.1f MiB" % (rss / 1024)))
    out.append("")
    if "uwrelay" in gaps_total:
        goals.append(("fan-out: 0 gaps for uwrelay's subscribers", gaps_total["uwrelay"],
                      gaps_total["uwrelay"] == 0))
    return out


def latency(rows, goals):
    out = []
    by = defaultdict(list)
    for r in rows:
        if r["scenario"] == "latency":
            by[r["name"]].append(r)
    if not by:
        return out
    any_r = next(iter(by.values()))[0]
    out.append("### Latency at a fixed rate\n")
    out.append("%d subscribers × %g frames/s × %d B for %.0f s (median of rounds). Latency = receive "
               "time − the time the upstream frame was written, one clock. The ceiling row is the "
               "loopback alone (one frame in flight).\n" % (
                   any_r["subs"], any_r["rate"], any_r["size"], any_r["duration_s"]))
    out.append("| target | p50 ms | p99 ms | p99.9 ms | max ms | deliv/s | gaps | not received by the end "
               "| target CPU | tool CPU |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    p99 = {}
    for name in ("uwrelay", "nchan", "fastapi", "ceiling"):
        rs = by.get(name)
        if not rs:
            continue
        p99[name] = med([r["lat_p99_us"] for r in rs])
        tcpu = med([r["target_cpu_pct"] for r in rs if r["target_cpu_pct"] >= 0])
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0f} % |".format(
            NAMES[name], fmt_ms(med([r["lat_p50_us"] for r in rs])), fmt_ms(p99[name]),
            fmt_ms(med([r["lat_p999_us"] for r in rs])), fmt_ms(med([r["lat_max_us"] for r in rs])),
            fmt_rate(med([r["delivered_per_s"] for r in rs])), sum(r["gaps"] for r in rs),
            sum(r["tail_missing"] for r in rs), "–" if tcpu is None else "%.0f %%" % tcpu,
            med([r["tool_cpu_pct"] for r in rs])))
    out.append("")
    if "uwrelay" in p99:
        goals.append(("latency p99 ≤ 5 ms at %d × %g/s" % (any_r["subs"], any_r["rate"]),
                      "%.2f ms" % (p99["uwrelay"] / 1000), p99["uwrelay"] <= 5000))
        if "nchan" in p99:
            goals.append(("latency p99 below nchan's", "%.2f vs %.2f ms" % (p99["uwrelay"] / 1000, p99["nchan"] / 1000),
                          p99["uwrelay"] < p99["nchan"]))
    return out


def idle(rows, goals):
    out = []
    by = defaultdict(list)
    for r in rows:
        if r["scenario"] == "idle":
            by[r["name"]].append(r)
    if not by:
        return out
    out.append("### Idle subscribers: memory per connection\n")
    out.append("The target's RSS after N idle WebSocket subscribers minus before, over N (median of rounds). "
               "Sources spread over 127.0.0.2–5.\n")
    out.append("| target | subscribers open | RSS before | RSS after | per subscriber | connect time |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for name in ("uwrelay", "nchan", "fastapi"):
        rs = by.get(name)
        if not rs:
            continue
        per = med([r["rss_per_sub_bytes"] for r in rs])
        out.append("| {} | {:,} | {:.1f} MiB | {:.1f} MiB | {:.2f} KiB | {:.1f} s |".format(
            NAMES[name], int(med([r["alive"] for r in rs])), med([r["rss_before_kib"] for r in rs]) / 1024,
            med([r["rss_after_kib"] for r in rs]) / 1024, per / 1024, med([r["connect_s"] for r in rs])))
        if name == "uwrelay":
            goals.append(("idle: ≤ 6 KiB RSS per subscriber (%d open)" % int(med([r["alive"] for r in rs])),
                          "%.2f KiB" % (per / 1024), per <= 6 * 1024))
    out.append("")
    return out


def ingest(rows, goals):
    out = []
    grid = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["scenario"] == "ingest":
            grid[r["size"]][r["name"]].append(r)
    if not grid:
        return out
    out.append("### Ingest: upstream frames/s parsed and relayed, 1 subscriber\n")
    out.append("One subscriber read in batches, 2,048 frames in flight (median of rounds).\n")
    out.append("| size | uwrelay | nchan | FastAPI plan | ceiling 16/send | uwrelay CPU | tool CPU (uwrelay run) |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for sz in sorted(grid):
        g = grid[sz]
        cells = [fmt_rate(med([r["delivered_per_s"] for r in g.get(n, [])])) for n in
                 ("uwrelay", "nchan", "fastapi", "ceiling16")]
        u = g.get("uwrelay", [])
        cpu = med([r["target_cpu_pct"] for r in u])
        out.append("| {} B | {} | {} | {} | {} | {} | {} |".format(
            sz, *cells, "–" if cpu is None else "%.0f %%" % cpu,
            "–" if not u else "%.0f %%" % med([r["tool_cpu_pct"] for r in u])))
        if u:
            v = med([r["delivered_per_s"] for r in u])
            goals.append(("ingest ≥ 250,000 frames/s (%d B)" % sz, fmt_rate(v), v >= 250000))
    out.append("")
    return out


def render(rows, machine):
    goals = []
    body = []
    body += fanout(rows, goals)
    body += latency(rows, goals)
    body += idle(rows, goals)
    body += ingest(rows, goals)
    out = ["## Results\n"]
    m_date = re.search(r"^date: (\S+)", machine, re.M)
    m_rel = re.search(r"^uwrelay: .*\((\S+)\)", machine, re.M)
    m_wall = re.search(r"^wall time: (\d+) s", machine, re.M)
    if m_date:
        out.append("Run of %s%s, uwrelay at `%s`; regenerate with `UPDATE_DOC=1 bench/run.sh all`.\n" % (
            m_date.group(1), " (%.0f min)" % (int(m_wall.group(1)) / 60) if m_wall else "",
            m_rel.group(1) if m_rel else "?"))
    if machine:
        out.append("```")
        out.append(machine.rstrip())
        out.append("```\n")
    reps = max((r["rep"] for r in rows), default=0)
    out.append("Rounds: %d.\n" % reps)
    if goals:
        out.append("### Against the targets\n")
        out.append("| target | measured | met |")
        out.append("|---|---:|:---:|")
        for name, val, ok in goals:
            if isinstance(val, float):
                val = "%.2f×" % val if "×" in name else "%.2f" % val
            out.append("| %s | %s | %s |" % (name, "–" if val is None else val, "yes" if ok else "**no**"))
        out.append("")
    return "\n".join(out + body)


def main(argv):
    doc = None
    if len(argv) > 2 and argv[1] == "--update-doc":
        doc = argv[2]
        argv = argv[:1] + argv[3:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = load(argv[1])
    machine = open(argv[2]).read() if len(argv) > 2 else ""
    text = render(rows, machine)
    if not doc:
        print(text)
        return 0
    src = open(doc).read()
    new, n = re.subn(r"(<!-- results:begin -->\n).*?(<!-- results:end -->)",
                     lambda m: m.group(1) + text + "\n" + m.group(2), src, flags=re.S)
    if not n:
        print("no <!-- results:begin --> ... <!-- results:end --> in %s" % doc, file=sys.stderr)
        return 1
    open(doc, "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
