#!/usr/bin/env python3
"""uwrelay through Redis (cluster.role ingest + edge) against a standalone relay, and failover.

    bench/cluster.py [--reps 3] [--dur 5] [--failovers 5] [--subs 1000] [--out DIR]

Per round, back to back so both share the machine's state:
  latency     SUBS subscribers x 100 frames/s x 1 KB (the load tool's fixed-rate mode)
  throughput  SUBS subscribers x 1 KB at the maximum sustainable rate (read prompt)
each for "standalone" (one relay) and "cluster" (redis-server + an ingest + an edge; subscribers
on the edge; latency is end to end: upstream write -> ingest -> Redis -> edge -> subscriber).
The target's process pinned to RELAY_CPU (for the cluster: redis-server, the ingest and the
edge, all three on that core), the load tool on TOOL_CPU. RSS/CPU columns are the edge's.

Then failover: redis, the UW simulator publishing 200 frames/s, two ingests (lock_ttl 2 s), an
edge and a subscriber; the lock holder is killed with SIGKILL, FAILOVERS times: time until the
standby holds the UW link (its status), and until the subscriber gets frames again.

Needs build-bench/uwbench (bench/run.sh builds it), a Release uwrelay (UWRELAY_BIN, default
/tmp/benchrelay/uwrelay; bench/run.sh builds that too), build/tests/uwsim/uwsim and
redis-server. Everything on 127.0.0.1; every run bounded by the tool's --timeout.
"""

import argparse
import json
import os
import shutil
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
import wsclient  # noqa: E402

TOOL = os.path.join(ROOT, "build-bench", "uwbench")
RELAY = os.environ.get("UWRELAY_BIN", "/tmp/benchrelay/uwrelay")
SIM = os.environ.get("UWSIM_BIN", os.path.join(ROOT, "build", "tests", "uwsim", "uwsim"))
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
RELAY_CPU = os.environ.get("RELAY_CPU", "0")
TOOL_CPU = os.environ.get("TOOL_CPU", "1")
BASE = int(os.environ.get("BASE_PORT", "19500"))
P_EDGE, P_UP, P_ING, P_REDIS = BASE, BASE + 1, BASE + 2, BASE + 3


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def relay_yaml(work, name, port, role=None):
    y = ("listen: {address: 127.0.0.1, port: %d}\n"
         "upstream:\n  url: ws://127.0.0.1:%d/socket\n"
         "  reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}\n"
         "clients: {max_queue_bytes: 8388608, max_connections: 100000, max_per_ip: 100000}\n"
         "log: {level: warn}\n" % (port, P_UP))
    if role:
        y += ("cluster: {role: %s, redis: \"127.0.0.1:%d\", lock_ttl: 2, interest_ttl: 6, "
              "redis_timeout: 1}\n" % (role, P_REDIS))
    return write(os.path.join(work, name + ".yaml"), y)


def pinned(argv, cpu, **kw):
    return subprocess.Popen(["taskset", "-c", cpu] + argv, **kw)


def start_redis(work):
    p = pinned([REDIS, "--port", str(P_REDIS), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", work, "--loglevel", "warning"], RELAY_CPU,
               stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "redis.log"), "w"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            import socket
            s = socket.create_connection(("127.0.0.1", P_REDIS), timeout=0.5)
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                s.close()
                return p
            s.close()
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def stop(p, sig=signal.SIGTERM):
    if p and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_tool(work, target, args):
    """One measurement; target is 'standalone' or 'cluster'. Returns the tool's JSON."""
    pidf = os.path.join(work, "pid")
    if os.path.exists(pidf):
        os.unlink(pidf)
    procs = []
    tool = pinned([TOOL, "--target", "uw", "--listen", str(P_UP),
                   "--sub", "ws://127.0.0.1:%d/api/stream/ws/flow" % P_EDGE, "--ready", "notice",
                   "--pid-file", pidf, "--label", target] + args, TOOL_CPU,
                  stdout=subprocess.PIPE, stderr=open(os.path.join(work, "tool.err"), "w"))
    env = dict(os.environ, UW_API_TOKEN="bench")
    try:
        if target == "standalone":
            r = pinned([RELAY, "-c", relay_yaml(work, "relay", P_EDGE)], RELAY_CPU, env=env,
                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "relay.log"), "w"))
            procs.append(r)
            watched = r
        else:
            procs.append(start_redis(work))
            procs.append(pinned([RELAY, "-c", relay_yaml(work, "ingest", P_ING, "ingest")], RELAY_CPU,
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(work, "ingest.log"), "w")))
            env.pop("UW_API_TOKEN")
            watched = pinned([RELAY, "-c", relay_yaml(work, "edge", P_EDGE, "edge")], RELAY_CPU,
                             env=env, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(work, "edge.log"), "w"))
            procs.append(watched)
        write(pidf, "%d\n" % watched.pid)
        out, _ = tool.communicate(timeout=240)
    finally:
        stop(tool, signal.SIGKILL)
        for p in reversed(procs):
            stop(p)
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not lines:
        log("  %s: no result; tool stderr:\n%s" % (target, open(os.path.join(work, "tool.err")).read()[-2000:]))
        return None
    res = json.loads(lines[-1])
    log("  %s: %.0f deliveries/s, p50 %.1f ms, p99 %.1f ms, gaps %d, target cpu %.0f%%" % (
        target, res["delivered_per_s"], res["lat_p50_us"] / 1e3, res["lat_p99_us"] / 1e3,
        res["gaps"], res["target_cpu_pct"]))
    return res


def failover_trials(work, n):
    """Returns a list of (takeover_s, data_again_s)."""
    out = []
    relays = []
    redis = start_redis(work)
    sim = subprocess.Popen([SIM, "--port", "0", "--rate", "200"], stdout=subprocess.PIPE,
                           stderr=open(os.path.join(work, "sim.log"), "w"), text=True)
    try:
        line = sim.stdout.readline()
        import re
        sim_port = int(re.search(r"ready ws=(\d+)", line).group(1))
        env = dict(os.environ, UW_API_TOKEN="bench")

        def yaml(name, port, role):
            return write(os.path.join(work, name + ".yaml"),
                         "listen: {address: 127.0.0.1, port: %d}\n"
                         "upstream:\n  url: ws://127.0.0.1:%d/socket\n"
                         "  reconnect: {initial_delay: 0.1, max_delay: 1, jitter: 0.1}\n"
                         "log: {level: warn}\n"
                         "cluster: {role: %s, redis: \"127.0.0.1:%d\", lock_ttl: 2, interest_ttl: 6, "
                         "redis_timeout: 1}\n" % (port, sim_port, role, P_REDIS))

        def start_ingest(i):
            return started(subprocess.Popen([RELAY, "-c", yaml("ing%d" % i, P_ING + 10 + i, "ingest")],
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(work, "ing%d.log" % i), "a")))

        def started(p):
            relays.append(p)
            return p

        ing = {0: start_ingest(0), 1: start_ingest(1)}
        started(subprocess.Popen([RELAY, "-c", yaml("edge", P_EDGE, "edge")], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "edge.log"), "w")))

        def status(port):
            try:
                st, _, body = wsclient.http_get("127.0.0.1", port, "/api/stream/status", timeout=1)
                return json.loads(body) if st == 200 else None
            except (OSError, ValueError):
                return None

        def holder():
            for i in ing:
                s = status(P_ING + 10 + i)
                if s and s["cluster"].get("leader") and s["status"] == "connected":
                    return (i,)
            return None
        harness.wait_until(lambda: status(P_EDGE) is not None, 10, 0.05, "edge up")
        c = wsclient.connect("127.0.0.1", P_EDGE, "/api/stream/ws/flow", timeout=5)
        harness.expect_subscribed(c, "flow-alerts")
        harness.wait_until(lambda: holder() is not None, 15, 0.02, "a holder")
        for t in range(n):
            h = harness.wait_until(lambda: holder(), 15, 0.02, "a holder")[0]
            # frames flowing to the subscriber before the kill
            n_ok = 0
            while n_ok < 20:
                env_, raw = harness.recv_envelope(c, 10)
                n_ok += not harness.is_relay_msg(env_)
            ing[h].send_signal(signal.SIGKILL)
            ing[h].wait(5)
            t0 = last_rx = time.monotonic()
            other = 1 - h
            t_take = t_data = None
            # frames stop (nobody holds UW), then come back: note when the standby holds the
            # link (its status) and when the first frame after a silence of >= 0.3 s arrives
            while (t_take is None or t_data is None) and time.monotonic() - t0 < 30:
                if t_take is None:
                    s_ = status(P_ING + 10 + other)
                    if s_ and s_["cluster"].get("leader") and s_["status"] == "connected":
                        t_take = time.monotonic() - t0
                try:
                    env_, raw = harness.recv_envelope(c, 0.02)
                except (OSError, wsclient.WSError):
                    continue
                now = time.monotonic()
                if not harness.is_relay_msg(env_):
                    if t_data is None and now - last_rx >= 0.3:
                        t_data = now - t0
                    last_rx = now
            if t_take is None or t_data is None:
                raise SystemExit("failover trial %d did not complete in 30 s" % (t + 1))
            log("  failover %d: standby holds the link after %.2f s, frames again after %.2f s" % (
                t + 1, t_take, t_data))
            out.append((t_take, t_data))
            ing[h] = start_ingest(h)   # the killed one comes back as the standby
            time.sleep(0.5)
        c.abort()
    finally:
        for p in relays:
            stop(p)
        stop(sim)
        stop(redis)
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dur", type=float, default=5)
    ap.add_argument("--subs", type=int, default=1000)
    ap.add_argument("--failovers", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    for f in (TOOL, RELAY, SIM, REDIS):
        if not os.access(f, os.X_OK):
            raise SystemExit("missing %s (see the head of this script)" % f)
    work = tempfile.mkdtemp(prefix="uwbench-cluster.")
    outdir = a.out or "/tmp/uwbench-results/cluster-" + time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(outdir, exist_ok=True)
    raw = open(os.path.join(outdir, "raw.jsonl"), "w")
    res = {}
    lat_args = ["--mode", "rate", "--rate", "100", "--subs", str(a.subs), "--size", "1024",
                "--duration", str(a.dur * 2), "--warmup", "1", "--drain", "3", "--timeout", "90"]
    max_args = ["--mode", "max", "--subs", str(a.subs), "--size", "1024", "--inflight", "128",
                "--read", "prompt", "--stall", "1.0", "--duration", str(a.dur), "--warmup", "1",
                "--drain", "3", "--timeout", "90"]
    for rep in range(1, a.reps + 1):
        for sc, args in (("latency", lat_args), ("throughput", max_args)):
            log("round %d: %s, %d subscribers x 1 KB" % (rep, sc, a.subs))
            for target in ("standalone", "cluster"):
                r = run_tool(work, target, args)
                if r:
                    r.update(scenario=sc, name=target, rep=rep)
                    raw.write(json.dumps(r) + "\n")
                    raw.flush()
                    res.setdefault((sc, target), []).append(r)
    fo = failover_trials(work, a.failovers) if a.failovers else []
    raw.write(json.dumps({"scenario": "failover", "trials": fo}) + "\n")
    raw.close()

    def col(sc, t, k, scale=1.0):
        v = med([r[k] for r in res.get((sc, t), [])])
        return None if v is None else v / scale

    lines = ["| scenario | target | deliveries/s | p50 ms | p99 ms | max ms | gaps | CPU % (edge) | RSS MiB (edge) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for sc in ("latency", "throughput"):
        for t in ("standalone", "cluster"):
            if (sc, t) not in res:
                continue
            lines.append("| %s | %s | %.0f | %.1f | %.1f | %.1f | %d | %.0f | %.1f |" % (
                sc, t, col(sc, t, "delivered_per_s"), col(sc, t, "lat_p50_us", 1e3),
                col(sc, t, "lat_p99_us", 1e3), col(sc, t, "lat_max_us", 1e3),
                sum(r["gaps"] for r in res[(sc, t)]), col(sc, t, "target_cpu_pct"),
                col(sc, t, "target_hwm_kib", 1024)))
    for sc in ("latency", "throughput"):
        ratios = []
        for rep in range(1, a.reps + 1):
            s = [r for r in res.get((sc, "standalone"), []) if r["rep"] == rep]
            c = [r for r in res.get((sc, "cluster"), []) if r["rep"] == rep]
            if s and c and s[0]["delivered_per_s"]:
                ratios.append((c[0]["delivered_per_s"] / s[0]["delivered_per_s"],
                               c[0]["lat_p99_us"] / max(1.0, s[0]["lat_p99_us"])))
        if ratios:
            lines.append("")
            lines.append("%s, cluster ÷ standalone (median of %d rounds): deliveries %.2f×, p99 %.2f×" % (
                sc, len(ratios), med([x for x, _ in ratios]), med([y for _, y in ratios])))
    if fo:
        lines.append("")
        lines.append("failover (lock_ttl 2 s, SIGKILL of the holder, %d trials): standby holds the UW "
                     "link after median %.2f s (min %.2f, max %.2f); subscriber gets frames again after "
                     "median %.2f s (max %.2f)" % (
                         len(fo), med([x for x, _ in fo]), min(x for x, _ in fo), max(x for x, _ in fo),
                         med([y for _, y in fo]), max(y for _, y in fo)))
    text = "\n".join(lines) + "\n"
    write(os.path.join(outdir, "tables.md"), text)
    print(text)
    log("raw results: %s" % os.path.join(outdir, "raw.jsonl"))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
