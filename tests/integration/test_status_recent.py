#!/usr/bin/env python3
"""The status API's "recent" object: one-second samples of frames in and out, clients and the UW
link, and the link's changes with their reason (what the status page draws)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"


def samples(status):
    rec = status["recent"]
    return [dict(zip(rec["fields"], s)) for s in rec["samples"]]


class TestStatusRecent(harness.IntegrationTest):

    def test_samples_count_what_went_in_and_out(self):
        # no REST source: frames in are then exactly what UW's socket brought
        self.sim, self.relay = self.sim_and_relay(upstream={"leave_delay": 0}, sources=[])
        st = self.relay.status()
        self.assertEqual(st["recent"]["interval_s"], 1)
        self.assertEqual(st["recent"]["fields"],
                         ["t", "span_ms", "frames_in", "frames_out", "clients", "slow_closed", "up"])
        a = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(a, FLOW)
        b = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(b, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow joined")
        # UW's join acknowledgement is a frame in too: start counting from a sample that ends
        # a second after it came
        after_ack = int(time.time() * 1000) + 1000
        wait_until(lambda: (samples(self.relay.status()) or [{"t": 0}])[-1]["t"] > after_ack, 5,
                   msg="a later sample")
        t0 = samples(self.relay.status())[-1]["t"]
        self.sim.publish(FLOW, 25)
        recv_data(a, 25, channel=FLOW)
        recv_data(b, 25, channel=FLOW)

        # the samples after the publish add up to it: 25 in, 50 out (two subscribers)
        def counted():
            ss = [s for s in samples(self.relay.status()) if s["t"] > t0]
            return ss if sum(s["frames_in"] for s in ss) >= 25 and \
                sum(s["frames_out"] for s in ss) >= 50 and ss[-1]["clients"] == 2 else None
        wait_until(counted, 5, msg="the publish in the recent samples")
        ss = counted()
        self.assertEqual(sum(s["frames_in"] for s in ss), 25)
        self.assertEqual(sum(s["frames_out"] for s in ss), 50)
        self.assertTrue(all(s["up"] == 1 for s in ss))
        self.assertTrue(all(900 <= s["span_ms"] <= 5000 for s in ss), ss)
        all_s = samples(self.relay.status())
        self.assertTrue(all(all_s[i]["t"] > all_s[i - 1]["t"] for i in range(1, len(all_s))),
                        "oldest first, one per tick")
        self.assertLessEqual(len(all_s), 300)

    def test_link_changes_with_their_reason(self):
        self.sim, self.relay = self.sim_and_relay(
            upstream={"leave_delay": 0,
                      "reconnect": {"initial_delay": 0.2, "max_delay": 0.5, "jitter": 0.1}})
        def events():
            return self.relay.status()["recent"]["link_events"]
        # the first connection is the first change (the ring starts before it)
        wait_until(lambda: [e["event"] for e in events()] == ["connected"], 5,
                   msg="the first connection in link_events")
        self.sim.ctl("refuse", count=-1, status=503)
        self.sim.ctl("cut")
        wait_until(lambda: self.relay.status()["status"] != "connected", 5, msg="link down")
        wait_until(lambda: [e["event"] for e in events()] == ["connected", "disconnected"], 5,
                   msg="the loss in link_events")
        down = events()[1]
        self.assertTrue(down["reason"], down)
        self.assertNotIn("test-token", down["reason"])
        wait_until(lambda: any(s["up"] == 0 for s in samples(self.relay.status())), 5,
                   msg="a sample with the link down")
        self.sim.ctl("refuse", count=0)
        wait_until(lambda: [e["event"] for e in events()] == ["connected", "disconnected", "connected"],
                   10, msg="the recovery in link_events")
        back = events()[2]
        self.assertIsNone(back["reason"])
        self.assertGreaterEqual(back["t"], down["t"])
        self.assertEqual(self.relay.status()["uw_connection"]["connects"], 2)


if __name__ == "__main__":
    harness.main()
