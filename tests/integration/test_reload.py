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


if __name__ == "__main__":
    harness.main()
