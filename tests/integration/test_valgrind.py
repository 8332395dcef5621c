#!/usr/bin/env python3
"""Short runs of the relay under valgrind: standalone (traffic, a client, an upstream cut,
SIGTERM) and as an ingest and an edge through a Redis restart; valgrind must report no error and
no definite or indirect leak. On an ASan build both skip, with the reason."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
import test_cluster  # noqa: E402
from harness import HOST, expect_subscribed, free_port, recv_data, wait_notice, wait_until  # noqa: E402


def skip_if_sanitized(test):
    """valgrind cannot run an ASan binary (the sanitizer build is covered by LeakSanitizer):
    say so as a skip, which ctest reports (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt),
    rather than pass without running. Decided by the binary, not by its path."""
    if harness.sanitized_binary(harness.relay_bin()):
        test.skipTest("valgrind skipped: ASan build (%s)" % harness.relay_bin())


class TestValgrind(harness.IntegrationTest):

    def test_clean_teardown(self):
        if not shutil.which("valgrind"):
            self.fail("valgrind not installed")
        skip_if_sanitized(self)
        sim = self.start_sim(token="test-token")
        port = free_port()
        cfg_path = os.path.join(self.tmp, "vg.yaml")
        with open(cfg_path, "w") as f:
            f.write(harness.to_yaml(harness.relay_config(port, sim.url())) + "\n")
        log_path = os.path.join(self.tmp, "valgrind.log")
        env = dict(os.environ, UW_API_TOKEN="test-token")
        p = subprocess.Popen(harness.valgrind_argv(log_path) + [harness.relay_bin(), "-c", cfg_path],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    return wsclient.http_get(HOST, port, "/healthz", timeout=2)[0] == 200
                except OSError:
                    return False
            wait_until(up, 60, interval=0.2, msg="relay under valgrind answering")
            c = wsclient.connect(HOST, port, "/api/stream/ws?channels=flow-alerts,gex:SPY", timeout=10)
            self._clients.append(c)
            expect_subscribed(c, "flow-alerts", timeout=10)
            expect_subscribed(c, "gex:SPY", timeout=10)
            wait_until(lambda: sim.stats()["joined"].get("gex:SPY"), 20, msg="joined")
            sim.publish("flow-alerts", 50)
            recv_data(c, 50, timeout=30, channel="flow-alerts")
            sim.ctl("cut", mode="drop")
            wait_until(lambda: sim.stats()["handshakes_ok"] >= 2, 30, msg="reconnected")
            c.send_json({"action": "unsubscribe", "channel": "gex:SPY"})
            wsclient.http_get(HOST, port, "/metrics", timeout=10)
            wsclient.http_get(HOST, port, "/api/stream/status", timeout=10)
            # a second client left open at shutdown
            c2 = wsclient.connect(HOST, port, "/api/stream/ws/flow", timeout=10)
            self._clients.append(c2)
            expect_subscribed(c2, "flow-alerts", timeout=10)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assert_valgrind_clean(log_path, rc)


class TestClusterValgrind(test_cluster.ClusterBase):

    def test_valgrind_clean_ingest_and_edge(self):
        """Both roles under valgrind through traffic, a Redis restart and SIGTERM: no error, no
        definite or indirect leak (hiredis contexts, adopted sockets, stream records)."""
        if not shutil.which("valgrind"):
            self.fail("valgrind not installed")
        skip_if_sanitized(self)
        self.redis = self.start_redis()
        self.sim = self.start_sim()
        procs = {}
        for role in ("ingest", "edge"):
            port = free_port()
            cfg = self.cluster_cfg(self.redis, role, self.sim.url(), cluster={"lock_ttl": 5},
                                   listen={"address": HOST, "port": port})
            path = os.path.join(self.tmp, "vg-%s.yaml" % role)
            with open(path, "w") as f:
                f.write(harness.to_yaml(cfg) + "\n")
            env = dict(os.environ)
            env.pop("UW_API_TOKEN", None)
            if role == "ingest":
                env["UW_API_TOKEN"] = "test-token"
            vlog = os.path.join(self.tmp, "valgrind-%s.log" % role)
            p = subprocess.Popen(harness.valgrind_argv(vlog) + [harness.relay_bin(), "-c", path],
                                 env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(self.tmp, "vg-%s.stderr" % role), "w"))
            procs[role] = (p, port, vlog)
        ok = False
        try:
            def status(role):
                try:
                    st, _, body = wsclient.http_get(HOST, procs[role][1], "/api/stream/status", timeout=5)
                    return json.loads(body) if st == 200 else None
                except (OSError, ValueError):
                    return None
            wait_until(lambda: (status("ingest") or {}).get("status") == "connected", 60, 0.2,
                       "ingest under valgrind holding the UW link")
            wait_until(lambda: (status("edge") or {}).get("status") == "connected", 60, 0.2,
                       "edge under valgrind connected")
            c = wsclient.connect(HOST, procs["edge"][1], "/api/stream/ws/flow", timeout=10)
            self._clients.append(c)
            expect_subscribed(c, test_cluster.FLOW, timeout=10)
            self.wait_joined(timeout=30)
            self.sim.publish(test_cluster.FLOW, 30)
            recv_data(c, 30, timeout=30, channel=test_cluster.FLOW)
            joins = self.sim.stats()["joins"]
            self.redis.stop()       # no persistence: Redis comes back empty, a new epoch
            wait_notice(c, "disconnected", timeout=30)
            self.redis.start()
            wait_notice(c, "connected", timeout=60)
            self.wait_rejoined(joins, timeout=30)
            self.publish_until_received(c, 10, timeout=60)
            wsclient.http_get(HOST, procs["edge"][1], "/metrics", timeout=10)
            wsclient.http_get(HOST, procs["ingest"][1], "/metrics", timeout=10)
            for role in ("edge", "ingest"):
                procs[role][0].send_signal(signal.SIGTERM)
            rcs = {role: procs[role][0].wait(60) for role in procs}
            ok = True
        finally:
            if not ok:
                for role in procs:
                    with open(os.path.join(self.tmp, "vg-%s.stderr" % role)) as f:
                        sys.stderr.write("----- %s under valgrind -----\n%s\n" % (role, f.read()[-5000:]))
            for p, _, _ in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for role, (p, _, vlog) in procs.items():
            self.assert_valgrind_clean(vlog, rcs[role], role)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
