#!/usr/bin/env python3
"""Operations: systemd notifications, the unit's hardening and install layout, /metrics, /readyz."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import HOST, free_port, recv_data, expect_subscribed, wait_until  # noqa: E402

REPO = harness.REPO
UNIT = os.path.join(REPO, "systemd", "uwrelay.service")
BUILD = os.environ.get("UWRELAY_BUILD_DIR", os.path.dirname(harness.relay_bin()))


class NotifySocket:
    """A fake $NOTIFY_SOCKET: collects the datagrams sd_notify sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def seen(self, line):
        self.drain()
        return [m for m in self.messages if line in m.split("\n")]

    def count_prefix(self, prefix):
        self.drain()
        return sum(1 for m in self.messages for l in m.split("\n") if l.startswith(prefix))

    def close(self):
        self.sock.close()


class TestSystemdNotify(harness.IntegrationTest):

    def test_ready_status_watchdog_reload_stopping(self):
        sim = self.start_sim(token="test-token")
        ns = NotifySocket(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(ns.close)
        port = free_port()
        relay = self.start_relay(harness.relay_config(port, sim.url()),
                                 env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "200000"})
        wait_until(lambda: ns.seen("READY=1"), 5, msg="READY=1")
        # READY comes only once the listener is bound: the port answers by now
        self.assertEqual(relay.get("/healthz")[0], 200)
        wait_until(lambda: ns.count_prefix("STATUS=") >= 1, 5, msg="STATUS=")
        relay.wait_connected()
        wait_until(lambda: any("STATUS=upstream connected" in m for m in ns.drain()), 5,
                   msg="STATUS saying connected")
        # WATCHDOG=1 at half the interval (100 ms): several within a second
        n0 = ns.count_prefix("WATCHDOG=1")
        time.sleep(1.0)
        self.assertGreaterEqual(ns.count_prefix("WATCHDOG=1") - n0, 5)
        relay.proc.signal(signal.SIGHUP)
        wait_until(lambda: ns.seen("RELOADING=1"), 5, msg="RELOADING=1")
        ready_after = lambda: "READY=1" in "\n".join(ns.drain()[ns.messages.index(ns.seen("RELOADING=1")[0]):])
        wait_until(ready_after, 5, msg="READY=1 after the reload")
        relay.proc.signal(signal.SIGTERM)
        wait_until(lambda: ns.seen("STOPPING=1"), 5, msg="STOPPING=1")

    def test_without_notify_socket_nothing_breaks(self):
        sim = self.start_sim(token="test-token")
        relay = self.start_relay(harness.relay_config(free_port(), sim.url()),
                                 env={"NOTIFY_SOCKET": "", "WATCHDOG_USEC": ""})
        relay.wait_connected()

    def test_journal_priority_prefixes(self):
        """With stderr being the journal (JOURNAL_STREAM names it), lines carry <N> priorities
        instead of timestamps."""
        sim = self.start_sim(token="test-token")
        log_path = os.path.join(self.tmp, "journal.log")
        port = free_port()
        cfg = os.path.join(self.tmp, "j.yaml")
        with open(cfg, "w") as f:
            f.write(harness.to_yaml(harness.relay_config(port, sim.url())) + "\n")
        with open(log_path, "wb") as out:
            st = os.fstat(out.fileno())
            env = dict(os.environ, UW_API_TOKEN="test-token",
                       JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            p = subprocess.Popen([harness.relay_bin(), "-c", cfg], stdout=subprocess.DEVNULL,
                                 stderr=out, env=env)
        try:
            wait_until(lambda: "upstream: connected" in open(log_path).read(), 10, msg="connected")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(log_path) as f:
            lines = [l for l in f.read().splitlines() if l]
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, r"^<[3467]>\S", l)
        self.assertTrue(any(l.startswith("<6>relay: uwrelay") for l in lines), lines[:5])
        self.assertTrue(any(l.startswith("<4>upstream:") for l in lines), lines[:5])

    def test_token_from_systemd_credential(self):
        sim = self.start_sim(token="cred-token-4242")
        creds = os.path.join(self.tmp, "creds")
        os.mkdir(creds)
        with open(os.path.join(creds, "uw-token"), "w") as f:
            f.write("cred-token-4242\n")
        relay = self.start_relay(harness.relay_config(free_port(), sim.url()), token=None,
                                 env={"CREDENTIALS_DIRECTORY": creds})
        relay.wait_connected()



class TestUnitFile(harness.IntegrationTest):

    def test_security_exposure_at_most_2(self):
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", UNIT],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
        self.assertTrue(m, out.stdout[-2000:] + out.stderr[-2000:])
        score = float(m.group(1))
        sys.stderr.write("systemd-analyze security: %.1f\n" % score)
        self.assertLessEqual(score, 2.0)

    def test_install_layout_and_verify(self):
        prefix = os.path.join(self.tmp, "prefix")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for rel in ("bin/uwrelay", "lib/systemd/system/uwrelay.service", "etc/uwrelay/uwrelay.yaml",
                    "share/doc/uwrelay/README.md", "share/doc/uwrelay/PROTOCOL.md"):
            self.assertTrue(os.path.isfile(os.path.join(prefix, rel)), rel)
        self.assertTrue(os.access(os.path.join(prefix, "bin/uwrelay"), os.X_OK))
        with open(os.path.join(prefix, "lib/systemd/system/uwrelay.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=%s/bin/uwrelay -c %s/etc/uwrelay/uwrelay.yaml" % (prefix, prefix), unit)
        self.assertIn("ExecStartPre=%s/bin/uwrelay --check-config" % prefix, unit)
        # the installed example config is valid
        r = subprocess.run([os.path.join(prefix, "bin/uwrelay"), "--check-config", "-c",
                            os.path.join(prefix, "etc/uwrelay/uwrelay.yaml")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.strip(), "configuration OK", r.stderr)
        r = subprocess.run(["systemd-analyze", "verify",
                            os.path.join(prefix, "lib/systemd/system/uwrelay.service")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for key in ("Type=notify", "WatchdogSec=", "ExecReload=", "Restart=on-failure",
                    "LimitNOFILE=", "DynamicUser=yes", "LoadCredential=uw-token:"):
            self.assertIn(key, unit)


class TestMetrics(harness.IntegrationTest):

    def test_metrics_pass_promtool_and_count(self):
        sim = self.start_sim(token="test-token")
        relay = self.start_relay(harness.relay_config(free_port(), sim.url()))
        relay.wait_connected()
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, "flow-alerts")
        wait_until(lambda: sim.stats()["joined"].get("flow-alerts"), 5, msg="joined")
        sim.publish("flow-alerts", 25)
        recv_data(c, 25)
        sim.ctl("send", text="not json", binary=0)
        wait_until(lambda: relay.conn()["malformed_frames"] == 1, 5, msg="malformed counted")
        status, _, body = relay.get("/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        promtool = shutil.which("promtool") or os.path.join(REPO, ".cache", "tools", "promtool")
        self.assertTrue(os.access(promtool, os.X_OK), "promtool missing: run scripts/deps.sh")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        def value(name):
            m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
            self.assertTrue(m, name)
            return float(m.group(1))
        self.assertEqual(value('uwrelay_upstream_up'), 1)
        self.assertEqual(value('uwrelay_channel_frames_total{channel="flow-alerts"}'), 25)
        self.assertEqual(value('uwrelay_channel_subscribers{channel="flow-alerts"}'), 1)
        self.assertEqual(value('uwrelay_malformed_frames_total'), 1)
        self.assertEqual(value('uwrelay_acks_total{status="ok"}'), 1)
        self.assertEqual(value('uwrelay_clients'), 1)
        self.assertEqual(value('uwrelay_fanout_latency_seconds_count'), 25)
        self.assertEqual(value('uwrelay_fanout_latency_seconds_bucket{le="+Inf"}'), 25)
        self.assertEqual(value('uwrelay_history_frames{channel="flow-alerts"}'), 25)

    def test_readyz_follows_upstream(self):
        sim = self.start_sim(token="test-token")
        relay = self.start_relay(harness.relay_config(free_port(), sim.url(), upstream={
            "reconnect": {"initial_delay": 0.1, "max_delay": 0.3, "jitter": 0.1}}))
        relay.wait_connected()
        self.assertEqual(relay.get("/readyz")[0], 200)
        sim.ctl("refuse", count=-1, status=503)
        sim.ctl("cut")
        wait_until(lambda: relay.get("/readyz")[0] == 503, 5, msg="readyz 503 while down")
        self.assertEqual(relay.get("/healthz")[0], 200)
        self.assertIn(b'"upstream":"disconnected"', relay.get("/healthz")[2])
        sim.ctl("refuse", count=0)
        wait_until(lambda: relay.get("/readyz")[0] == 200, 5, msg="readyz 200 again")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
