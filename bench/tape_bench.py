#!/usr/bin/env python3
"""Replay and history-from-tape figures (docs/BENCHMARKS.md, "Tape: replay and history").

  python3 bench/tape_bench.py [--bin build-rel/uwrelay] [--frames 300000] [--runs 5]

1. replay: a tape of N frames of 1 KB (one channel, 1 ms apart), `uwrelay --replay TAPE --speed
   max` with no subscriber: every frame goes through registry, envelope, history; the relay logs
   "end of TAPE: N frames in S s" and frames/s is N / S. Median of --runs.
2. history: a relay with tape.path and nothing in memory for the channel; a tape of 10,000 frames
   of 1 KB in the relay's epoch; GET /api/stream/history?channel=C&since=0&limit=10000 timed from
   the request to the last byte of the answer (11.3 MB) over loopback, read by Python's
   http.client (its reading is part of the figure). Median of --runs * 4.
3. the same query answered from memory (10,000 frames replayed into history.size 10000).
Everything on 127.0.0.1; the temporary directory is removed at the end.
"""

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from tapefile import SCHEMA  # noqa: E402
import wsclient  # noqa: E402


def payload(i):
    base = ('{"rule_id":"189cddf7-376a-4f99-8d76-65f1a65e6bc1","rule_name":"RepeatedHits",'
            '"ticker":"SPY","option_chain":"SPY261219C00600000","underlying_price":598.12,'
            '"total_premium":1250000,"executed_at":%d,"n":%d,"pad":"' % (1796289400000 + i, i))
    return (base + "x" * (1024 - len(base) - 2) + '"}').encode()


def make_tape(path, n, epoch="0123456789abcdef", channel="flow-alerts"):
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("PRAGMA synchronous=OFF")
    db.executemany("INSERT INTO frames (channel, epoch, seq, ts, payload) VALUES (?,?,?,?,CAST(? AS TEXT))",
                   ((channel, epoch, i, 1796289400000 + i, payload(i)) for i in range(1, n + 1)))
    db.commit()
    db.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, tmp, cfg_extra, args, name):
    port = free_port()
    cfg = os.path.join(tmp, name + ".yaml")
    with open(cfg, "w") as f:
        f.write("listen: {address: 127.0.0.1, port: %d}\nlog: {level: info}\n%s" % (port, cfg_extra))
    log = open(os.path.join(tmp, name + ".log"), "w+")
    env = dict(os.environ)
    env.pop("UW_API_TOKEN", None)
    p = subprocess.Popen([binary, "-c", cfg] + args, stdout=log, stderr=log, env=env)
    return p, port, log


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def replay_run(binary, tmp, tape):
    p, _, log = start(binary, tmp, "history: {size: 1000}\n", ["--replay", tape, "--speed", "max"], "replay")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log.seek(0)
            m = re.search(r"end of .*: (\d+) frames in ([\d.]+) s", log.read())
            if m:
                return int(m.group(1)) / float(m.group(2))
            if p.poll() is not None:
                raise SystemExit("relay exited")
            time.sleep(0.05)
        raise SystemExit("replay did not finish in 120 s")
    finally:
        stop(p)


def history_runs(binary, tmp, runs):
    tape = os.path.join(tmp, "hist.db")
    p, port, _ = start(binary, tmp, "tape: {path: %s}\n" % tape, [], "history")
    try:
        for _ in range(100):
            try:
                epoch = wsclient.http_get_json("127.0.0.1", port, "/api/stream/status")["epoch"]
                break
            except OSError:
                time.sleep(0.05)
        make_tape(tape, 10000, epoch)
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            st, _, body = wsclient.http_get("127.0.0.1", port,
                                            "/api/stream/history?channel=flow-alerts&since=0&limit=10000",
                                            timeout=30)
            times.append((time.monotonic() - t0) * 1000)
            doc = json.loads(body)
            assert st == 200 and len(doc["envelopes"]) == 10000, (st, body[:200])
        return times, len(body)
    finally:
        stop(p)


def memory_runs(binary, tmp, tape10k, runs):
    """The same query answered from memory: 10,000 frames replayed into a 10,000-frame history."""
    p, port, log = start(binary, tmp, "history: {size: 10000, max_bytes: 67108864}\n",
                         ["--replay", tape10k, "--speed", "max"], "memory")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log.seek(0)
            if "end of" in log.read():
                break
            time.sleep(0.05)
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            st, _, body = wsclient.http_get("127.0.0.1", port,
                                            "/api/stream/history?channel=flow-alerts&limit=10000",
                                            timeout=30)
            times.append((time.monotonic() - t0) * 1000)
            assert st == 200 and len(json.loads(body)["envelopes"]) == 10000, (st, body[:200])
        return times
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "uwrelay"))
    ap.add_argument("--frames", type=int, default=300000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="uwtape-bench-")
    try:
        tape = os.path.join(tmp, "replay.db")
        t0 = time.monotonic()
        make_tape(tape, a.frames)
        print("tape: %d frames of 1 KB, %.1f MB, written in %.1f s" %
              (a.frames, os.path.getsize(tape) / 1e6, time.monotonic() - t0))
        rates = [replay_run(a.bin, tmp, tape) for _ in range(a.runs)]
        print("replay --speed max: frames/s per run: %s; median %.0f" %
              (", ".join("%.0f" % r for r in rates), statistics.median(rates)))
        times, size = history_runs(a.bin, tmp, a.runs * 4)
        print("history from the tape, 10,000 frames (%.1f MB): ms per query: %s; median %.1f" %
              (size / 1e6, ", ".join("%.1f" % t for t in times), statistics.median(times)))
        tape10k = os.path.join(tmp, "10k.db")
        make_tape(tape10k, 10000)
        times = memory_runs(a.bin, tmp, tape10k, a.runs * 4)
        print("history from memory, 10,000 frames: ms per query: %s; median %.1f" %
              (", ".join("%.1f" % t for t in times), statistics.median(times)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
