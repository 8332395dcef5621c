#!/usr/bin/env python3
"""One upstream join per channel however many browsers, one leave when the last one goes.

To prove that something was *not* sent upstream without sleeping, each check is fenced by a
marker: a join or leave of another channel that the relay sends on the same UW connection after
the event under test. Frames on one connection arrive in order, so once the sim has logged the
marker, anything the relay sent before it has been logged too.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"


class TestRefcount(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        # about the refcount, not the leave linger (test_budget.py): leave at once
        self.sim, self.relay = self.sim_and_relay(upstream={"leave_delay": 0})
        self.marker = self.client(self.relay, "/api/stream/ws")
        self.marker_n = 0

    def fence(self):
        """Make the relay send one more upstream frame (join or leave of a marker channel)
        after everything so far, and wait until the sim has seen it."""
        ch = "news"
        if self.marker_n % 2 == 0:
            self.marker.send_json({"action": "subscribe", "channel": ch})
            env = recv_relay(self.marker)
            self.assertEqual(env["data"]["type"], "subscribed", env)
            want = self.marker_n // 2 + 1
            wait_until(lambda: self.sim.joins_of(ch) == want, 5, msg="marker join #%d" % want)
        else:
            self.marker.send_json({"action": "unsubscribe", "channel": ch})
            env = recv_relay(self.marker)
            self.assertEqual(env["data"]["type"], "unsubscribed", env)
            want = self.marker_n // 2 + 1
            wait_until(lambda: self.sim.leaves_of(ch) == want, 5, msg="marker leave #%d" % want)
        self.marker_n += 1

    def subscribers(self, channel):
        ch = self.relay.status()["channels"].get(channel)
        return ch["subscribers"] if ch else 0

    def test_join_leave_refcount(self):
        c1 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c1, FLOW)
        wait_until(lambda: self.sim.joins_of(FLOW) == 1, 5, msg="first join")
        c2 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c2, FLOW)
        # a generic-endpoint subscriber to the same channel shares the same upstream join
        c3 = self.client(self.relay, "/api/stream/ws?channels=flow-alerts")
        expect_subscribed(c3, FLOW)
        self.assertEqual(self.subscribers(FLOW), 3)
        self.fence()
        st = self.sim.stats()
        self.assertEqual(self.sim.joins_of(FLOW, st), 1, st.get("join_log"))
        self.assertEqual(st["joined"].get(FLOW), 1)

        # all three receive the same frames
        self.sim.publish(FLOW, 3)
        for c in (c1, c2, c3):
            got = recv_data(c, 3, channel=FLOW)
            self.assertEqual([e["seq"] for e, _ in got], [1, 2, 3])

        # first and second leave: no leave upstream
        c1.close()
        wait_until(lambda: self.subscribers(FLOW) == 2, 5, msg="2 subscribers")
        c3.close()
        wait_until(lambda: self.subscribers(FLOW) == 1, 5, msg="1 subscriber")
        self.fence()
        st = self.sim.stats()
        self.assertEqual(self.sim.leaves_of(FLOW, st), 0, st.get("leave_log"))
        self.assertEqual(st["joined"].get(FLOW), 1)
        # the remaining one still gets data
        self.sim.publish(FLOW, 1)
        self.assertEqual(recv_data(c2, 1, channel=FLOW)[0][0]["seq"], 4)

        # last one leaves: exactly one leave
        c2.close()
        wait_until(lambda: self.sim.leaves_of(FLOW) == 1, 5, msg="leave of flow-alerts upstream")
        self.fence()
        st = self.sim.stats()
        self.assertEqual(self.sim.leaves_of(FLOW, st), 1, st.get("leave_log"))
        self.assertEqual(self.sim.joins_of(FLOW, st), 1, st.get("join_log"))
        self.assertFalse(st["joined"].get(FLOW), st["joined"])
        s = self.relay.status()
        self.assertNotIn(FLOW, s["uw_connection"]["subscribed_channels"])
        self.assertEqual(self.relay.conn()["leaves_sent"], 1 + self.marker_n // 2)

        # a new subscriber: a new join, and seq carries on
        c4 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c4, FLOW)
        wait_until(lambda: self.sim.joins_of(FLOW) == 2, 5, msg="second join of flow-alerts")
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 1)
        env, _ = recv_data(c4, 1, channel=FLOW)[0]
        self.assertEqual(env["seq"], 5, "seq is per channel for the life of the process")

    def test_abrupt_disconnect_releases(self):
        """A browser that vanishes without a close frame is counted out too."""
        c1 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c1, FLOW)
        c2 = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c2, FLOW)
        wait_until(lambda: self.sim.joins_of(FLOW) == 1, 5)
        c1.abort()
        wait_until(lambda: self.subscribers(FLOW) == 1, 5, msg="1 subscriber after abort")
        self.fence()
        self.assertEqual(self.sim.leaves_of(FLOW), 0)
        c2.abort()
        wait_until(lambda: self.sim.leaves_of(FLOW) == 1, 5, msg="leave after the last abort")
        s = self.relay.status()
        self.assertEqual(s["total_clients"], 1)  # the marker
        self.assertEqual(self.subscribers(FLOW), 0)

    def test_generic_unsubscribe_is_last_leave(self):
        c1 = self.client(self.relay, "/api/stream/ws?channels=gex:SPY")
        expect_subscribed(c1, "gex:SPY")
        c2 = self.client(self.relay, "/api/stream/ws")
        c2.send_json({"action": "subscribe", "channel": "gex:SPY"})
        self.assertEqual(recv_relay(c2)["data"]["type"], "subscribed")
        wait_until(lambda: self.sim.joins_of("gex:SPY") == 1, 5)
        c1.send_json({"action": "unsubscribe", "channel": "gex:SPY"})
        self.assertEqual(recv_relay(c1)["data"]["type"], "unsubscribed")
        self.fence()
        self.assertEqual(self.sim.leaves_of("gex:SPY"), 0)
        self.assertEqual(self.sim.joins_of("gex:SPY"), 1)
        c2.send_json({"action": "unsubscribe", "channel": "gex:SPY"})
        self.assertEqual(recv_relay(c2)["data"]["type"], "unsubscribed")
        wait_until(lambda: self.sim.leaves_of("gex:SPY") == 1, 5)
        self.fence()
        self.assertEqual(self.sim.leaves_of("gex:SPY"), 1)


if __name__ == "__main__":
    harness.main()
