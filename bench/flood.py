#!/usr/bin/env python3
"""Descriptor flood: a relay under a low descriptor limit, and many stalled, unfinished requests.

    bench/flood.py [--bin PATH]... [--nofile 256] [--stalled 400] [--seconds 10]

For each binary: start it (no token, no upstream) under `prlimit --nofile=N:N` on 127.0.0.1, open
--stalled connections that each send a partial request head and then nothing, keep them open for
--seconds while probing /healthz every 0.25 s on a new connection, and report the relay's CPU
(utime + stime from /proc over the window, in % of one core), the log lines it wrote, and the
/healthz probes (answered, median and worst time). Stalled sockets that the relay closes are
reopened, so the pressure holds for the whole window. Loopback only; bounded in count and time.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(port):
    t0 = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = s.recv(4096)
        ok = data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    except OSError:
        ok = False
    return ok, time.monotonic() - t0


def stalled_socket(port, i):
    try:
        s = socket.create_connection((HOST, port), timeout=1)
        s.setblocking(False)
        s.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Stall: %d\r\n" % i)
        return s
    except OSError:
        return None


def alive(s):
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def run(binary, nofile, stalled, seconds):
    port = free_port()
    work = tempfile.mkdtemp(prefix="uwflood-")
    cfg = os.path.join(work, "relay.yaml")
    with open(cfg, "w") as f:
        f.write("listen: {address: 127.0.0.1, port: %d}\nlog: {level: info}\n" % port)
    log_path = os.path.join(work, "relay.log")
    env = {k: v for k, v in os.environ.items() if k not in ("UW_API_TOKEN", "UW_KEY")}
    with open(log_path, "w") as log:
        p = subprocess.Popen(["prlimit", "--nofile=%d:%d" % (nofile, nofile), binary, "-c", cfg],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 10
        while not probe(port)[0]:
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("%s did not start" % binary)
            time.sleep(0.05)
        lines0 = sum(1 for _ in open(log_path))
        socks = [stalled_socket(port, i) for i in range(stalled)]
        reopened = 0
        probes = []
        cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
        while time.monotonic() - t0 < seconds:
            probes.append(probe(port))
            for i, s in enumerate(socks):
                if s is None or not alive(s):
                    if s is not None:
                        s.close()
                    socks[i] = stalled_socket(port, i)
                    reopened += 1
            time.sleep(0.25)
        window = time.monotonic() - t0
        cpu = (cpu_seconds(p.pid) - cpu0) / window * 100
        for s in socks:
            if s is not None:
                s.close()
        lines = sum(1 for _ in open(log_path)) - lines0
        times = [t for ok, t in probes if ok]
        return {"binary": binary, "nofile": nofile, "stalled": stalled, "seconds": round(window, 1),
                "cpu_percent": round(cpu, 1), "log_lines": lines,
                "healthz_answered": "%d/%d" % (len(times), len(probes)),
                "healthz_median_ms": round(statistics.median(times) * 1000, 1) if times else None,
                "healthz_max_ms": round(max(times) * 1000, 1) if times else None,
                "stalled_reopened": reopened, "alive": p.poll() is None}
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", default=[])
    ap.add_argument("--nofile", type=int, default=256)
    ap.add_argument("--stalled", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    bins = a.bin or [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "uwrelay")]
    for b in bins:
        print(json.dumps(run(b, a.nofile, a.stalled, a.seconds)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
