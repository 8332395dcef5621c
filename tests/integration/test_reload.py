#!/usr/bin/env python3
"""SIGHUP reload (docs/PROTOCOL.md: `unsubscribed` with a reason, close code 4002)."""

import copy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"


class TestReload(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        # leave_delay 0: these tests watch the leave follow a reload's unsubscribe
        self.sim, self.relay = self.sim_and_relay(upstream={"leave_delay": 0})
        self.cfg = copy.deepcopy(self.relay.config)

    def reload_and_wait(self, cfg=None, text=None, outcome="reloaded"):
        """SIGHUP and wait for the log line saying it was taken ('reloaded') or refused."""
        rx = re.compile(r"configuration reloaded" if outcome == "reloaded" else r"reload rejected", re.I)
        before = len(rx.findall(self.relay.log()))
        self.relay.reload(cfg if cfg is not None else text)
        wait_until(lambda: len(rx.findall(self.relay.log())) > before, 5,
                   msg="log line %r after SIGHUP" % rx.pattern)

    def test_broken_config_keeps_running(self):
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.reload_and_wait(text="listen:\n  port: [oops\n", outcome="rejected")
        self.assertTrue(self.relay.alive())
        self.assertEqual(self.relay.status()["status"], "connected")
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 1)
        recv_data(c, 1, channel=FLOW)
        self.assertEqual([c["id"] for c in self.relay.channels()["channels"]],
                         [e["id"] for e in harness.DEFAULT_ENDPOINTS])

    def test_channel_no_longer_allowed(self):
        g = self.client(self.relay, "/api/stream/ws?channels=news,gex:SPY")
        for _ in range(2):
            self.assertEqual(recv_relay(g)["data"]["type"], "subscribed")
        wait_until(lambda: self.sim.stats()["joined"].get("news") == 1, 5)
        cfg = copy.deepcopy(self.cfg)
        cfg["allowed_channels"] = [ch for ch in cfg["allowed_channels"] if ch != "news"]
        self.reload_and_wait(cfg)
        n = recv_relay(g)["data"]
        self.assertEqual((n["type"], n["channel"]), ("unsubscribed", "news"), n)
        self.assertTrue(n.get("reason"))
        wait_until(lambda: self.sim.leaves_of("news") == 1, 5, msg="leave of news upstream")
        g.send_json({"action": "subscribe", "channel": "news"})
        err = recv_relay(g)["data"]
        self.assertEqual((err["type"], err["code"]), ("error", "channel_not_allowed"))
        # the other subscription is untouched
        self.sim.publish("gex:SPY", 1)
        recv_data(g, 1, channel="gex:SPY")

    def test_endpoint_removed_and_added(self):
        flow = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(flow, FLOW)
        # "subscribed" is the relay's word; UW may not have the join yet (a channel
        # removed before its join went out is never joined, so never left)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        cfg = copy.deepcopy(self.cfg)
        cfg["endpoints"] = [e for e in cfg["endpoints"] if e["id"] != "flow-alerts"]
        cfg["endpoints"].append({"id": "news", "path": "/api/stream/ws/news", "channel": "news",
                                 "name": "News", "description": "Headlines"})
        self.reload_and_wait(cfg)
        # the socket on the removed endpoint is closed with 4002
        code = None
        try:
            while True:
                flow.recv_message(5)
        except wsclient.WSClosed as e:
            code = e.code
        self.assertEqual(code, 4002)
        wait_until(lambda: self.sim.leaves_of(FLOW) == 1, 5, msg="leave of flow-alerts upstream")
        ids = [c["id"] for c in self.relay.channels()["channels"]]
        self.assertEqual(ids, ["dark-pool", "market-movers", "news"])
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            wsclient.connect(HOST, self.relay.port, "/api/stream/ws/flow")
        self.assertEqual(cm.exception.status, 404)
        n = self.client(self.relay, "/api/stream/ws/news")
        expect_subscribed(n, "news")
        wait_until(lambda: self.sim.stats()["joined"].get("news") == 1, 5)
        self.sim.publish("news", 2)
        self.assertEqual([e["seq"] for e, _ in recv_data(n, 2, channel="news")], [1, 2])

    def test_upstream_url_change_reconnects(self):
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        sim2 = self.start_sim(name="uwsim2")
        cfg = copy.deepcopy(self.cfg)
        cfg["upstream"]["url"] = sim2.url()
        self.reload_and_wait(cfg)
        wait_until(lambda: sim2.stats()["joined"].get(FLOW) == 1, 10, msg="rejoined on the new sim")
        wait_until(lambda: not self.sim.stats()["joined"].get(FLOW), 5, msg="left the old sim")
        s = self.relay.wait_connected(5)
        self.assertEqual(s["uw_connection"]["url"], "ws://127.0.0.1:%d/socket?token=***" % sim2.port)
        sim2.publish(FLOW, 1)
        self.assertEqual(recv_data(c, 1, channel=FLOW)[0][0]["seq"], 1)


def metric(relay, line_re):
    """The integer value of the first /metrics line matching line_re (anchored, value excluded)."""
    status, _, body = relay.get("/metrics")
    assert status == 200, status
    m = re.search(r"^%s (\d+)$" % line_re, body.decode(), re.M)
    assert m, "no metric %r" % line_re
    return int(m.group(1))


class TestReloadSettings(harness.IntegrationTest):
    """What the README says SIGHUP changes besides endpoints and channels: limits, history
    sizes, the log level and http.static_dir's content."""

    def start(self, **over):
        self.sim, self.relay = self.sim_and_relay(**over)
        self.cfg = copy.deepcopy(self.relay.config)

    def reload_ok(self, cfg):
        """SIGHUP with cfg and wait until the relay counts it as a successful reload (by the
        metric, not the log: a reload to log.level warn does not log its own info line)."""
        before = metric(self.relay, r'uwrelay_reloads_total\{result="ok"\}')
        failed = metric(self.relay, r'uwrelay_reloads_total\{result="failed"\}')
        self.relay.reload(cfg)
        wait_until(lambda: metric(self.relay, r'uwrelay_reloads_total\{result="ok"\}') > before,
                   5, msg="reload counted")
        self.assertEqual(metric(self.relay, r'uwrelay_reloads_total\{result="failed"\}'), failed)

    def history_frames(self):
        return metric(self.relay, r'uwrelay_history_frames\{channel="%s"\}' % FLOW)

    def test_log_level(self):
        self.start(log={"level": "info"})
        new_sub = re.compile(r"new subscriber on /api/stream/ws/flow")
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.assertEqual(len(new_sub.findall(self.relay.log())), 0, "debug line at level info")
        self.cfg["log"] = {"level": "debug"}
        self.reload_ok(self.cfg)
        c2 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c2, FLOW)
        self.relay.wait_log(new_sub.pattern, 5)
        self.cfg["log"] = {"level": "warn"}
        reloaded = len(re.findall(r"configuration reloaded", self.relay.log()))
        self.reload_ok(self.cfg)
        seen = len(new_sub.findall(self.relay.log()))
        c3 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c3, FLOW)
        self.assertEqual(len(new_sub.findall(self.relay.log())), seen, "debug line at level warn")
        self.assertEqual(len(re.findall(r"configuration reloaded", self.relay.log())), reloaded,
                         "info line at level warn")

    def test_history_size_and_bytes(self):
        self.start(history={"size": 100}, clients={"max_msg_rate": 10000})
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 20, size=1000)
        recv_data(c, 20, channel=FLOW)
        self.assertEqual(self.history_frames(), 20)
        self.cfg["history"] = {"size": 5}
        self.reload_ok(self.cfg)
        self.sim.publish(FLOW, 1, size=1000)
        recv_data(c, 1, channel=FLOW)
        self.assertEqual(self.history_frames(), 5, "history.size 5 after reload")
        # a resume now gets only what the smaller history holds
        r = self.client(self.relay, "/api/stream/ws/flow?since=0&epoch=%s"
                        % self.relay.status()["epoch"])
        expect_subscribed(r, FLOW)
        gap = recv_relay(r)["data"]
        self.assertEqual((gap["type"], gap["reason"], gap["from"], gap["to"]), ("gap", "too_old", 1, 16))
        self.assertEqual([e["seq"] for e, _ in recv_data(r, 5, channel=FLOW)], [17, 18, 19, 20, 21])
        # max_bytes: three ~1 KB frames do not fit in 2500 bytes
        self.cfg["history"] = {"size": 100, "max_bytes": 2500}
        self.reload_ok(self.cfg)
        self.sim.publish(FLOW, 3, size=1000)
        recv_data(c, 3, channel=FLOW)
        self.assertEqual(self.history_frames(), 2, "history.max_bytes 2500 after reload")
        self.assertLessEqual(metric(self.relay, r'uwrelay_history_bytes\{channel="%s"\}' % FLOW), 2500)

    def test_connection_limit(self):
        self.start()
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        b = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(b, FLOW)
        self.cfg["clients"] = dict(self.cfg.get("clients", {}), max_connections=2)
        self.reload_ok(self.cfg)
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            self.client(self.relay, "/api/stream/ws/flow")
        self.assertEqual(cm.exception.status, 503)
        # the two already connected are kept
        self.sim.publish(FLOW, 1)
        recv_data(a, 1, channel=FLOW)
        recv_data(b, 1, channel=FLOW)
        self.cfg["clients"]["max_connections"] = 3
        self.reload_ok(self.cfg)
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)

    def test_queue_limit(self):
        """clients.max_queue_bytes lowered by a reload applies to subscribers already there."""
        self.start(clients={"max_msg_rate": 100000, "max_queue_bytes": 64 << 20})
        stuck = harness.ws_connect_ex(HOST, self.relay.port, "/api/stream/ws/flow", rcvbuf=4096)
        self._clients.append(stuck)
        expect_subscribed(stuck, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 300, size=1000)
        wait_until(lambda: self.relay.status()["frames_out"] >= 300, 10, msg="frames queued")
        self.assertEqual(self.relay.status()["slow_consumers_closed"], 0)
        self.cfg["clients"] = dict(self.cfg["clients"], max_queue_bytes=65536)
        self.reload_ok(self.cfg)
        # the kernel's socket buffers on loopback absorb a few MB before the relay's own queue
        # grows: publish until it is closed, at most 8 MB in all (far under the old 64 MB)
        for _ in range(25):
            out = self.relay.status()["frames_out"]
            self.sim.publish(FLOW, 300, size=1000)
            try:
                wait_until(lambda: self.relay.status()["slow_consumers_closed"] == 1 or
                           self.relay.status()["frames_out"] >= out + 300, 10, msg="frames queued")
            except harness.WaitTimeout:
                pass
            if self.relay.status()["slow_consumers_closed"] == 1:
                break
        self.assertEqual(self.relay.status()["slow_consumers_closed"], 1,
                         "the stuck subscriber was not closed under the reloaded limit")

    def test_static_dir_content(self):
        static = os.path.join(self.tmp, "static")
        os.mkdir(static)
        with open(os.path.join(static, "a.txt"), "w") as f:
            f.write("one\n")
        self.start(http={"static_dir": static})
        self.assertEqual(self.relay.get("/a.txt")[::2], (200, b"one\n"))
        self.assertEqual(self.relay.get("/b.txt")[0], 404)
        with open(os.path.join(static, "a.txt"), "w") as f:
            f.write("two\n")
        with open(os.path.join(static, "b.txt"), "w") as f:
            f.write("bee\n")
        # read at start and reload only: a changed file is not served before the SIGHUP
        self.assertEqual(self.relay.get("/a.txt")[::2], (200, b"one\n"))
        self.reload_ok(self.cfg)
        self.assertEqual(self.relay.get("/a.txt")[::2], (200, b"two\n"))
        self.assertEqual(self.relay.get("/b.txt")[::2], (200, b"bee\n"))
        os.remove(os.path.join(static, "a.txt"))
        self.reload_ok(self.cfg)
        self.assertEqual(self.relay.get("/a.txt")[0], 404)
        self.assertEqual(self.relay.get("/b.txt")[::2], (200, b"bee\n"))


if __name__ == "__main__":
    harness.main()
