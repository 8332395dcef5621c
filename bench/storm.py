#!/usr/bin/env python3
"""Restart storm: a relay with subscribers on several channels restarts, and every subscriber
reconnects at once with since/epoch.

    bench/storm.py [--bin [LABEL=]PATH ...] [--subs 10000] [--channels 8] [--rate 20]
                   [--reps 3] [--tape] [--out DIR]

Per round and binary (binaries interleaved, so each round's figures share the machine's state):
the UW simulator publishes RATE frames/s on each of CHANNELS channels; the relay (pinned to
RELAY_CPU) is started; build-bench/storm (on TOOL_CPU) connects SUBS subscribers to
/api/stream/ws?channels=C (subscriber i on channel i mod CHANNELS) and waits until every one is
subscribed; then the relay gets SIGTERM (it closes every browser with 1001 and exits), and the same
binary is started again on the same port. Every subscriber reconnects at once (a refused or reset
attempt is retried after 50 ms) with ?since=LAST&epoch=EPOCH. Measured by the tool, from the
first 101 of the new relay: when all are reconnected, when all are caught up (their `subscribed`
notice and every frame up to the seq it names), frames replayed, gaps and duplicates within an
epoch (both must be 0), epoch gaps (the relay came back with a new epoch: nothing to replay; the
whole storm without a tape); and by this script: the new relay's peak RSS (VmHWM), how long
after its exec it answered the first subscriber, and how long the old one took to stop.

The kernel's accept queue (net.core.somaxconn, 4096 here) decides much of a storm: a SYN that
finds it full is dropped and sent again by the client 1, 3, 7, 15 s later. --somaxconn N runs
everything in a private network namespace with that limit, leaving the host's alone.

--tape adds `tape: {path: WORK/tape.db, channels: [all the channels]}` to the relay's config
(durable history; the config contract of the tape), so the relay keeps its epoch and seqs across
the restart and resumes replay from the tape: then epoch gaps must be 0 and frames are replayed.

Needs build-bench/storm (cmake -S bench -B build-bench && cmake --build build-bench), a Release
uwrelay (UWRELAY_BIN or --bin; default /tmp/benchrelay/uwrelay, which bench/run.sh builds) and
build/tests/uwsim/uwsim. Everything on 127.0.0.0/8; every run bounded by --timeout.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

TOOL = os.path.join(ROOT, "build-bench", "storm")
SIM = os.environ.get("UWSIM_BIN", os.path.join(ROOT, "build", "tests", "uwsim", "uwsim"))
RELAY_CPU = os.environ.get("RELAY_CPU", "0")
TOOL_CPU = os.environ.get("TOOL_CPU", "1")
BASE = int(os.environ.get("BASE_PORT", "19700"))
P_RELAY = BASE
CHANNELS = ["flow-alerts", "news", "off_lit_trades", "lit_trades", "market_tide", "trading_halts",
            "gex:SPY", "gex:QQQ", "price:SPY", "price:QQQ", "price:AAPL", "price:NVDA",
            "option_trades", "net_flow:SPY", "gex:IWM", "price:TSLA"]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def relay_yaml(work, up_port, channels, history, tape):
    y = ("listen: {address: 127.0.0.1, port: %d}\n"
         "upstream:\n  url: ws://127.0.0.1:%d/socket\n"
         "  reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}\n"
         "  budget: {rate: 100, burst: 100}\n"
         # a storm is every subscriber with an unfinished request at once: the pending caps
         # are raised to the descriptor limit (the relay holds them below half of it)
         "clients: {max_queue_bytes: 8388608, max_connections: 100000, max_per_ip: 100000,\n"
         "          max_pending: 100000, max_pending_per_ip: 100000}\n"
         "history: {size: %d}\n"
         "log: {level: warn}\n" % (P_RELAY, up_port, history))
    if tape:
        y += "tape:\n  path: %s\n  channels: [%s]\n" % (
            os.path.join(work, "tape.db"), ", ".join('"%s"' % c for c in channels))
    path = os.path.join(work, "relay.yaml")
    with open(path, "w") as f:
        f.write(y)
    return path


def start_relay(binary, conf, work, n):
    env = dict(os.environ, UW_API_TOKEN="bench")
    return subprocess.Popen(["taskset", "-c", RELAY_CPU, binary, "-c", conf], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "relay%d.log" % n), "w"))


def wait_port(deadline):
    import socket
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", P_RELAY), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def stop(p, sig=signal.SIGTERM):
    if p and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_run(binary, args, channels):
    work = tempfile.mkdtemp(prefix="uwstorm.")
    sim = harness.Sim(work, rate=None)
    procs = [sim]
    relay = tool = None
    try:
        for c in channels:
            sim.ctl("rate", channel=c, rate=args.rate)
        conf = relay_yaml(work, sim.port, channels, args.history, args.tape)
        relay = start_relay(binary, conf, work, 1)
        if not wait_port(time.monotonic() + 15):
            raise SystemExit("the relay did not open its port (see %s)" % work)
        steady = os.path.join(work, "steady")
        tool = subprocess.Popen(
            ["taskset", "-c", TOOL_CPU, TOOL, "--port", str(P_RELAY), "--channels",
             ",".join(channels), "--subs", str(args.subs), "--src-ips", "4",
             "--steady-file", steady, "--timeout", str(args.timeout)],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "storm.err"), "w"))
        deadline = time.monotonic() + args.timeout
        while not os.path.exists(steady):
            if tool.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the subscribers never all had data (see %s)" % work)
            time.sleep(0.05)
        time.sleep(args.settle)	# frames flow on every channel for a while
        rss_before = hwm_kib(relay.pid)
        t_term = time.monotonic_ns()
        stop(relay)
        t_exec = time.monotonic_ns()
        relay = start_relay(binary, conf, work, 2)
        out, _ = tool.communicate(timeout=args.timeout + 10)
        hwm = hwm_kib(relay.pid)
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
        if not lines:
            raise SystemExit("no result from the storm tool (see %s)" % work)
        res = json.loads(lines[-1])
        res["exec_to_first_101_ms"] = (res["first_101_mono_ns"] - t_exec) / 1e6 \
            if res["first_101_mono_ns"] else -1
        res["stop_ms"] = (t_exec - t_term) / 1e6
        res["workdir"] = work if res["timed_out"] else None
        if res["timed_out"]:
            open(os.path.join(work, "keep"), "w").close()	# for a look at the logs
        res["peak_rss_kib"] = hwm
        res["first_relay_peak_rss_kib"] = rss_before
        return res
    finally:
        stop(tool, signal.SIGKILL)
        stop(relay)
        for p in procs:
            p.stop()
        if not os.path.exists(os.path.join(work, "keep")):
            subprocess.run(["rm", "-rf", work])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", action="append", default=[],
                    help="LABEL=PATH or PATH of a uwrelay binary; repeat to interleave")
    ap.add_argument("--subs", type=int, default=10000)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--rate", type=float, default=0.5, help="frames/s per channel")
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds of traffic before the restart")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tape", action="store_true")
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--out", help="append each run's JSON here")
    ap.add_argument("--somaxconn", type=int,
                    help="run in a private network namespace (unshare -n, needs root) whose "
                         "net.core.somaxconn is this: the host's is left alone")
    args = ap.parse_args()
    if args.somaxconn and os.environ.get("UWSTORM_NETNS") != "1":
        argv = [sys.executable] + sys.argv
        script = ("ip link set lo up && sysctl -qw net.core.somaxconn=%d && exec \"$@\""
                  % args.somaxconn)
        env = dict(os.environ, UWSTORM_NETNS="1")
        return subprocess.call(["unshare", "-n", "sh", "-c", script, "sh"] + argv, env=env)
    if not 1 <= args.channels <= len(CHANNELS):
        ap.error("--channels must be 1..%d" % len(CHANNELS))
    for need in (TOOL, SIM):
        if not os.access(need, os.X_OK):
            ap.error("%s is missing: build it first (see --help)" % need)
    os.environ["UWSIM_BIN"] = SIM
    bins = []
    for b in args.bin or [os.environ.get("UWRELAY_BIN", "/tmp/benchrelay/uwrelay")]:
        label, _, path = b.rpartition("=")
        bins.append((label or path, path))
    channels = CHANNELS[:args.channels]
    results = {label: [] for label, _ in bins}
    for rep in range(1, args.reps + 1):
        for label, path in bins:
            log("round %d: %s, %d subscribers on %d channels%s" % (
                rep, label, args.subs, args.channels, ", tape" if args.tape else ""))
            r = one_run(path, args, channels)
            r.update(label=label, rep=rep, tape=args.tape)
            results[label].append(r)
            log("  caught up in %.0f ms (all reconnected in %.0f ms), replayed %d, gaps %d, dups %d, "
                "epoch gaps %d, peak RSS %.1f MiB" % (
                    r["all_caught_up_ms"], r["all_connected_ms"], r["replayed"], r["gaps"],
                    r["dups"], r["epoch_gaps"], r["peak_rss_kib"] / 1024))
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
    print("| binary | all caught up, ms (runs) | median | all reconnected, ms | exec to first 101, ms "
          "| replayed | gaps | dups | epoch gaps | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, rs in results.items():
        med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
        print("| %s | %s | %.0f | %.0f | %.0f | %d | %d | %d | %d | %.1f |" % (
            label, ", ".join("%.0f" % r["all_caught_up_ms"] for r in rs), med("all_caught_up_ms"),
            med("all_connected_ms"), med("exec_to_first_101_ms"), med("replayed"),
            max(r["gaps"] for r in rs), max(r["dups"] for r in rs), med("epoch_gaps"),
            med("peak_rss_kib") / 1024))
    bad = [r for rs in results.values() for r in rs if r["gaps"] or r["dups"] or r["timed_out"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
