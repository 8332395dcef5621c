#!/usr/bin/env python3
"""Basic HTTP API and path-endpoint behaviour of uwrelay."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import (EPOCH_RE, ENVELOPE_TS_RE, HOST, expect_subscribed, recv_data,  # noqa: E402
                     recv_envelope, wait_until)

STATUS_CONN_KEYS = {
    "connected": bool, "running": bool, "state": str, "url": str, "reconnect_attempts": int,
    "subscribed_channels": list, "channel_count": int, "frames_in": int, "bytes_in": int,
    "malformed_frames": int, "oversize_frames": int, "acks_ok": int, "acks_failed": int,
    "unrouted_frames": int, "joins_sent": int, "leaves_sent": int, "connects": int,
}


class TestBasic(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.sim, self.relay = self.sim_and_relay()

    def test_status_shape(self):
        s = self.relay.status()
        self.assertEqual(s["status"], "connected")
        for k in ("uw_connection", "client_connections", "total_clients", "channels", "epoch",
                  "version", "uptime_seconds"):
            self.assertIn(k, s)
        c = s["uw_connection"]
        for k, t in STATUS_CONN_KEYS.items():
            self.assertIn(k, c)
            self.assertIsInstance(c[k], t, "uw_connection.%s = %r" % (k, c[k]))
            if t is int:
                self.assertNotIsInstance(c[k], bool, k)
        for k in ("connected_since", "last_frame_at", "last_error", "next_retry_in"):
            self.assertIn(k, c)
        self.assertTrue(c["connected"])
        self.assertTrue(c["running"])
        self.assertEqual(c["state"], "connected")
        self.assertEqual(c["reconnect_attempts"], 0)
        self.assertEqual(c["connects"], 1)
        self.assertEqual(c["subscribed_channels"], [])
        self.assertEqual(c["channel_count"], 0)
        self.assertEqual(c["url"], "ws://127.0.0.1:%d/socket?token=***" % self.sim.port)
        self.assertIsInstance(c["connected_since"], str)
        self.assertRegex(c["connected_since"], r"^\d{4}-\d{2}-\d{2}T")
        self.assertEqual(s["total_clients"], 0)
        self.assertIsInstance(s["client_connections"], dict)
        self.assertEqual(sum(s["client_connections"].values()), 0, s["client_connections"])
        self.assertIsInstance(s["channels"], dict)
        for name, ch in s["channels"].items():
            self.assertEqual(ch["subscribers"], 0, (name, ch))
        self.assertRegex(s["epoch"], EPOCH_RE)
        self.assertIsInstance(s["version"], str)
        self.assertTrue(s["version"])
        self.assertIsInstance(s["uptime_seconds"], (int, float))
        self.assertGreaterEqual(s["uptime_seconds"], 0)
        self.assertLess(s["uptime_seconds"], 60)
        st, hdrs, _ = self.relay.get("/api/stream/status")
        self.assertIn("application/json", hdrs.get("content-type", ""))

    def test_status_has_reason(self):
        """The designed status document always has a top-level "reason" (empty or null when
        connected); the other states are checked in test_config / test_secrets / test_reconnect."""
        s = self.relay.status()
        self.assertEqual(s["status"], "connected")
        self.assertIn("reason", s, "status without a top-level 'reason': %r" % sorted(s))
        self.assertFalse(s["reason"], "a reason while connected: %r" % s["reason"])

    def test_channels_lists_endpoints(self):
        doc = self.relay.channels()
        self.assertIsInstance(doc["channels"], list)
        got = {c["id"]: c for c in doc["channels"]}
        self.assertEqual([c["id"] for c in doc["channels"]],
                         [e["id"] for e in harness.DEFAULT_ENDPOINTS])
        for e in harness.DEFAULT_ENDPOINTS:
            c = got[e["id"]]
            self.assertEqual(c["name"], e["name"])
            self.assertEqual(c["endpoint"], e["path"])
            self.assertEqual(c["description"], e["description"])
            self.assertEqual(c["upstream_channel"], e["channel"])

    def test_healthz_and_404(self):
        st, hdrs, body = self.relay.get("/healthz")
        self.assertEqual(st, 200)
        json.loads(body)  # "200 JSON"
        for path in ("/nope", "/api/stream/nope", "/api/stream/statusx", "/healthzz", "/../README.md",
                     "/.hidden", "/web/index.html"):
            st, _, _ = self.relay.get(path)
            self.assertEqual(st, 404, path)

    def test_page_is_served(self):
        for path, ctype in (("/", "text/html"), ("/uwrelay.js", "text/javascript"),
                            ("/app.js", "text/javascript"), ("/style.css", "text/css")):
            st, hdrs, body = self.relay.get(path)
            self.assertEqual(st, 200, path)
            self.assertTrue(hdrs.get("content-type", "").startswith(ctype), (path, hdrs))
            with open(os.path.join(harness.REPO, "web", path.strip("/") or "index.html"), "rb") as f:
                self.assertEqual(body, f.read(), path)

    def test_ws_unknown_path_refused_404(self):
        for path in ("/api/stream/ws/nope", "/nope", "/api/stream/ws/flowx", "/api/stream/status"):
            with self.assertRaises(wsclient.HandshakeRefused, msg=path) as cm:
                c = harness.wsclient.connect(HOST, self.relay.port, path)
                self._clients.append(c)
            self.assertEqual(cm.exception.status, 404, path)
        # the relay is still fine afterwards
        self.assertEqual(self.relay.get("/healthz")[0], 200)

    def test_path_endpoint_envelopes(self):
        c = self.client(self.relay, "/api/stream/ws/flow")
        sub = expect_subscribed(c, "flow-alerts")
        self.assertRegex(sub["epoch"], EPOCH_RE)
        self.assertRegex(sub["timestamp"], ENVELOPE_TS_RE)
        self.assertNotIn("seq", sub)
        # subscribed means joined upstream (and acked) soon after
        wait_until(lambda: self.sim.stats()["joined"].get("flow-alerts") == 1, 5,
                   msg="sim sees flow-alerts joined")
        epoch = self.relay.status()["epoch"]
        n = 25
        self.sim.publish("flow-alerts", n)
        frames = recv_data(c, n, timeout=10, channel="flow-alerts")
        sim_seqs = []
        for i, (env, raw) in enumerate(frames, start=1):
            self.assertEqual(list(env.keys()), ["channel", "seq", "epoch", "timestamp", "data"],
                             raw[:200])
            self.assertEqual(env["seq"], i)
            self.assertEqual(env["epoch"], epoch)
            self.assertRegex(env["timestamp"], ENVELOPE_TS_RE)
            self.assertIsInstance(env["data"], dict)
            self.assertIn("sim_seq", env["data"], "first data message is not a data frame "
                          "(an ack forwarded?): %r" % raw[:200])
            sim_seqs.append(env["data"]["sim_seq"])
        self.assertEqual(sim_seqs, list(range(sim_seqs[0], sim_seqs[0] + n)))
        # nothing more than what was published (acks are never forwarded)
        self.assertIsNone(c.expect_nothing(0.3))
        s = self.relay.status()
        self.assertEqual(s["total_clients"], 1)
        self.assertEqual({k: v for k, v in s["client_connections"].items() if v},
                         {"flow-alerts": 1})
        ch = s["channels"]["flow-alerts"]
        self.assertEqual(ch["subscribers"], 1)
        self.assertEqual(ch["seq"], n)
        self.assertTrue(ch["joined"])
        self.assertEqual(ch["ack"], "ok")
        self.assertEqual(s["uw_connection"]["subscribed_channels"], ["flow-alerts"])
        self.assertEqual(s["uw_connection"]["channel_count"], 1)
        self.assertGreaterEqual(s["uw_connection"]["frames_in"], n)
        self.assertEqual(s["uw_connection"]["acks_ok"], 1)
        self.assertEqual(s["uw_connection"]["joins_sent"], 1)
        self.assertRegex(s["uw_connection"]["last_frame_at"], r"^\d{4}-\d{2}-\d{2}T")

    def test_ack_not_forwarded_with_slow_join(self):
        """The first message after `subscribed` is the first data frame, even when it races the ack."""
        c = self.client(self.relay, "/api/stream/ws/dark-pool")
        expect_subscribed(c, "off_lit_trades")
        wait_until(lambda: self.sim.stats()["joined"].get("off_lit_trades") == 1, 5,
                   msg="sim sees off_lit_trades joined")
        self.sim.publish("off_lit_trades", 3)
        env, raw = recv_envelope(c, 5)
        self.assertEqual(env["channel"], "off_lit_trades", raw[:200])
        self.assertEqual(env["seq"], 1)
        self.assertIn("sim_seq", env["data"], raw[:200])
        self.assertNotIn("response", env["data"])
        recv_data(c, 2, channel="off_lit_trades")

    def test_read_only_endpoint(self):
        c = self.client(self.relay, "/api/stream/ws/market-movers")
        expect_subscribed(c, "market_tide")
        c.send_text('{"action":"subscribe","channel":"news"}')
        env = harness.recv_relay(c, 5)
        self.assertEqual(env["data"]["type"], "error")
        self.assertEqual(env["data"]["code"], "read_only_endpoint")
        # still open and still delivering
        wait_until(lambda: self.sim.stats()["joined"].get("market_tide") == 1, 5)
        self.sim.publish("market_tide", 2)
        recv_data(c, 2, channel="market_tide")
        self.assertEqual(self.sim.stats()["joined"].get("news"), None)

    def test_sigterm_clean_exit(self):
        """SIGTERM: browsers get close code 1001 (PROTOCOL.md), the process exits 0 within 5 s."""
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, "flow-alerts")
        self.relay.proc.signal(signal.SIGTERM)
        code = None
        try:
            while True:
                c.recv_message(5)
        except wsclient.WSClosed as e:
            code = e.code
        self.assertEqual(code, 1001)
        rc, killed = self.relay.stop(grace=5)
        self.assertFalse(killed, "uwrelay did not exit within 5 s of SIGTERM")
        self.assertEqual(rc, 0)

if __name__ == "__main__":
    harness.main()
