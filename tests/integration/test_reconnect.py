#!/usr/bin/env python3
"""Upstream reconnection: cuts, refused handshakes with backoff, and the health check."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"
INITIAL, MAX, JITTER = 0.2, 1.0, 0.1


class SimWatcher(threading.Thread):
    """Polls the sim's stats every few ms and timestamps each change of the handshake counters."""

    def __init__(self, sim, period=0.005):
        super().__init__(daemon=True)
        self.sim = sim
        self.period = period
        self.events = []      # (monotonic time, "refused" | "ok")
        self.stop_flag = threading.Event()
        self.ready = threading.Event()   # set once the baseline is taken
        self.error = None

    def run(self):
        try:
            last = self.sim.stats()
            self.ready.set()
            while not self.stop_flag.is_set():
                st = self.sim.stats()
                now = time.monotonic()
                for _ in range(st["handshakes_refused"] - last["handshakes_refused"]):
                    self.events.append((now, "refused"))
                for _ in range(st["handshakes_ok"] - last["handshakes_ok"]):
                    self.events.append((now, "ok"))
                last = st
                time.sleep(self.period)
        except BaseException as e:
            self.error = e
            self.ready.set()

    def stop(self):
        self.stop_flag.set()
        self.join(5)


def joined_now(sim):
    return {k: v for k, v in sim.stats()["joined"].items() if v}


class TestReconnect(harness.IntegrationTest):

    def start(self, **over):
        over.setdefault("upstream", {})
        # leave_delay 0: check_cut watches the leave follow the last unsubscribe
        over["upstream"].setdefault("leave_delay", 0)
        over["upstream"].setdefault("reconnect", {"initial_delay": INITIAL, "max_delay": MAX,
                                                  "jitter": JITTER})
        self.sim, self.relay = self.sim_and_relay(**over)

    def watch_reconnect(self, timeout=10):
        """Poll relay status until it has been seen disconnected and then connected again."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.relay.status()
            if not seen or seen[-1] != s["status"]:
                seen.append(s["status"])
            if "disconnected" in seen and s["status"] == "connected":
                return seen, s
            time.sleep(0.01)
        self.fail("relay did not go disconnected -> connected within %ss; states seen: %r"
                  % (timeout, seen))

    def check_cut(self, mode):
        self.start()
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        b = self.client(self.relay, "/api/stream/ws?channels=gex:SPY")
        expect_subscribed(b, "gex:SPY")
        c = self.client(self.relay, "/api/stream/ws?channels=price:SPY")
        expect_subscribed(c, "price:SPY")
        c.send_json({"action": "unsubscribe", "channel": "price:SPY"})
        self.assertEqual(recv_relay(c)["data"]["type"], "unsubscribed")
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1, "gex:SPY": 1}, 5,
                   msg="sim joined == flow-alerts, gex:SPY")
        self.sim.publish(FLOW, 2)
        self.assertEqual([e["seq"] for e, _ in recv_data(a, 2, channel=FLOW)], [1, 2])
        st0 = self.sim.stats()
        n_joins0 = len(st0["join_log"])

        self.sim.ctl("cut", mode=mode)
        seen, s = self.watch_reconnect()
        conn = s["uw_connection"]
        self.assertEqual(conn["reconnect_attempts"], 0)
        self.assertEqual(conn["connects"], 2)
        self.assertTrue(conn["connected"])
        self.assertEqual(self.sim.stats()["handshakes_ok"], st0["handshakes_ok"] + 1)

        # rejoins exactly the channels with subscribers: fence with one more join on the new
        # connection, after which every earlier join has reached the sim
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1, "gex:SPY": 1}, 5,
                   msg="rejoined flow-alerts and gex:SPY")
        c.send_json({"action": "subscribe", "channel": "news"})
        expect_subscribed(c, "news")
        wait_until(lambda: joined_now(self.sim).get("news") == 1, 5, msg="fence join of news")
        st = self.sim.stats()
        new_joins = sorted(harness.log_entry_channel(e) for e in st["join_log"][n_joins0:])
        self.assertEqual(new_joins, sorted([FLOW, "gex:SPY", "news"]))
        self.assertEqual(joined_now(self.sim), {FLOW: 1, "gex:SPY": 1, "news": 1})

        # browsers are told (PROTOCOL.md: $relay "upstream" notices)
        for cl in (a, b):
            down = harness.wait_notice(cl, "disconnected", 5)
            self.assertTrue(down["data"].get("reason"), down)
            harness.wait_notice(cl, "connected", 5)
        # clients that stayed connected get new frames; seq carries on across the reconnect
        self.sim.publish(FLOW, 2)
        self.sim.publish("gex:SPY", 1)
        self.assertEqual([e["seq"] for e, _ in recv_data(a, 2, channel=FLOW)], [3, 4])
        self.assertEqual(recv_data(b, 1, channel="gex:SPY")[0][0]["seq"], 1)
        s = self.relay.status()
        self.assertTrue(s["channels"][FLOW]["joined"])
        self.assertEqual(sorted(s["uw_connection"]["subscribed_channels"]),
                         sorted([FLOW, "gex:SPY", "news"]))

    def test_cut_close(self):
        self.check_cut("close")

    def test_cut_drop(self):
        self.check_cut("drop")

    def test_refused_backoff(self):
        self.start()
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5)
        self.sim.ctl("refuse", count=3, status=503)
        w = SimWatcher(self.sim)
        w.start()
        self.addCleanup(w.stop)
        self.assertTrue(w.ready.wait(5), "watcher baseline")
        t_cut = time.monotonic()
        self.sim.ctl("cut")
        max_attempts = 0
        statuses = set()
        errors = set()
        reasons = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = self.relay.status()
            statuses.add(s["status"])
            if s["status"] == "disconnected":
                reasons.add(s.get("reason") or "")
            max_attempts = max(max_attempts, s["uw_connection"]["reconnect_attempts"])
            if s["uw_connection"]["last_error"]:
                errors.add(s["uw_connection"]["last_error"])
            if any(kind == "ok" for _, kind in w.events):
                break
            time.sleep(0.03)
        w.stop()
        self.assertIsNone(w.error)
        kinds = [k for _, k in w.events]
        self.assertEqual(kinds, ["refused", "refused", "refused", "ok"],
                         "handshake attempts seen by the sim: %r" % w.events)
        times = [t_cut] + [t for t, _ in w.events]
        gaps = [b - a for a, b in zip(times, times[1:])]
        expected = [INITIAL, 2 * INITIAL, 4 * INITIAL, MAX]   # 0.2, 0.4, 0.8, then capped at 1
        for i, (g, e) in enumerate(zip(gaps, expected)):
            lo = e * (1 - JITTER) - (0.05 + 0.15 * e)
            hi = e * (1 + JITTER) + (0.05 + 0.15 * e)
            self.assertTrue(lo <= g <= hi, "gap %d: %.3fs, expected %.2fs (allowed %.3f..%.3f); "
                            "all gaps: %s" % (i, g, e, lo, hi, ["%.3f" % x for x in gaps]))
        self.assertGreaterEqual(max_attempts, 3, "reconnect_attempts never reached 3")
        self.assertIn("disconnected", statuses)
        self.assertNotIn("unauthorized", statuses)
        self.assertTrue(errors, "last_error stayed empty while handshakes were refused")
        self.assertNotIn("", reasons, "status disconnected without a reason")
        sys.stderr.write("\nbackoff gaps: %s (expected %s)\n"
                         % (" ".join("%.3f" % g for g in gaps), expected))
        s = self.relay.wait_connected(5)
        self.assertEqual(s["uw_connection"]["reconnect_attempts"], 0)
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5)
        self.sim.publish(FLOW, 1)
        self.assertEqual(recv_data(a, 1, channel=FLOW)[0][0]["seq"], 1)

    def test_refused_tcp_drop(self):
        """status=0: the sim drops the TCP connection instead of answering; the relay retries."""
        self.start()
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        self.sim.ctl("refuse", count=2, status=0)
        self.sim.ctl("cut", mode="drop")
        seen, s = self.watch_reconnect(10)
        self.assertEqual(s["uw_connection"]["reconnect_attempts"], 0)
        self.assertEqual(self.sim.stats()["handshakes_ok"], 2)
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5)
        self.sim.publish(FLOW, 1)
        self.assertEqual(recv_data(a, 1, channel=FLOW)[0][0]["seq"], 1)

    def test_health_silent_upstream_reconnects(self):
        self.start(upstream={"health": {"idle_timeout": 0.5, "pong_timeout": 0.5}})
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5)
        ok0 = self.sim.stats()["handshakes_ok"]
        connects0 = self.relay.conn()["connects"]
        t0 = time.monotonic()
        self.sim.ctl("silent", on=1)
        try:
            # idle 0.5 s -> ping, no pong for 0.5 s -> hang up, then 0.2 s backoff
            wait_until(lambda: self.sim.stats()["handshakes_ok"] > ok0, 4,
                       msg="a new handshake after the upstream went silent")
            detected = time.monotonic() - t0
        finally:
            self.sim.ctl("silent", on=0)
        self.assertGreater(detected, 0.5, "reconnected before idle_timeout elapsed")
        s = self.relay.wait_connected(10)
        wait_until(lambda: self.relay.conn()["connects"] > connects0, 5)
        # and the link works again
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5, msg="flow-alerts rejoined")
        wait_until(lambda: self.relay.status()["status"] == "connected", 5)
        self.sim.publish(FLOW, 2)
        got = recv_data(a, 2, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in got], [1, 2])

    def test_health_quiet_but_alive_no_reconnect(self):
        self.start(upstream={"health": {"idle_timeout": 0.5, "pong_timeout": 0.5}})
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        wait_until(lambda: joined_now(self.sim) == {FLOW: 1}, 5)
        st0 = self.sim.stats()
        connects0 = self.relay.conn()["connects"]
        # no data for 3 s (six idle periods); pings are answered, so nothing may happen
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            s = self.relay.status()
            self.assertEqual(s["status"], "connected", s["uw_connection"])
            time.sleep(0.1)
        st = self.sim.stats()
        self.assertEqual(st["handshakes_ok"], st0["handshakes_ok"])
        self.assertEqual(st["connections"], st0["connections"])
        self.assertEqual(self.relay.conn()["connects"], connects0)
        self.sim.publish(FLOW, 1)
        self.assertEqual(recv_data(a, 1, channel=FLOW)[0][0]["seq"], 1)


if __name__ == "__main__":
    harness.main()
