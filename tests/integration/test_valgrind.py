#!/usr/bin/env python3
"""A short run of the relay under valgrind: traffic, a client, an upstream cut, SIGTERM;
valgrind must report no error and no definite or indirect leak."""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, free_port, recv_data, wait_until  # noqa: E402


class TestValgrind(harness.IntegrationTest):

    def test_clean_teardown(self):
        if not shutil.which("valgrind"):
            self.fail("valgrind not installed")
        if "asan" in harness.relay_bin():
            # valgrind and ASan do not mix: the sanitizer build is covered by ASan itself
            sys.stderr.write("ASan build: valgrind run replaced by LeakSanitizer\n")
            return
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


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
