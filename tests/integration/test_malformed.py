#!/usr/bin/env python3
"""Malformed and oversize upstream frames are dropped and counted; the relay carries on."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"

# (text, binary): each one is a frame UW would never send as data.
MALFORMED = [
    ("{not json", False),
    ('["flow-alerts",{"k":1},1]', False),      # 3-element array
    ("[1,{}]", False),                           # channel is not a string
    ('{"a":1}', False),                          # an object, not [channel, payload]
    ("", False),                                 # empty
    ('["flow-alerts",{"bin":1}]', True),         # a binary frame (UW sends text)
    ('["flow-alerts"]', False),                  # 1-element array
    ('["flow-alerts",{"k":1}', False),           # truncated
]


class TestMalformed(harness.IntegrationTest):

    def start(self, **over):
        self.sim, self.relay = self.sim_and_relay(**over)
        self.c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(self.c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        wait_until(lambda: self.relay.conn()["acks_ok"] == 1, 5, msg="ack counted")

    def test_malformed_frames_dropped_and_counted(self):
        self.start()
        before = self.relay.conn()
        self.assertEqual(before["malformed_frames"], 0)
        self.sim.publish(FLOW, 2)
        got = recv_data(self.c, 2, channel=FLOW)
        for text, binary in MALFORMED:
            # binary=0 spelled out: uwsim answers 400 "bad binary" when it is absent
            self.sim.ctl("send", text=text, binary=1 if binary else 0)
        self.sim.publish(FLOW, 3)
        # collect everything up to the third good frame, so a forwarded bad frame shows up
        extra = []
        good = 0
        while good < 3:
            env, raw = harness.recv_envelope(self.c, 5)
            if isinstance(env.get("data"), dict) and "sim_seq" in env["data"]:
                good += 1
                got.append((env, raw))
            else:
                extra.append(raw)
        self.assertEqual(extra, [], "malformed frames were forwarded to the browser")
        self.assertEqual([e["seq"] for e, _ in got], [1, 2, 3, 4, 5])
        sims = [e["data"]["sim_seq"] for e, _ in got]
        self.assertEqual(sims, list(range(sims[0], sims[0] + 5)))
        self.assertIsNone(self.c.expect_nothing(0.3))

        after = wait_until(
            lambda: (lambda c: c if c["malformed_frames"] >= len(MALFORMED) else None)(self.relay.conn()),
            5, msg="malformed_frames counter")
        self.assertEqual(after["malformed_frames"], len(MALFORMED))
        self.assertEqual(after["connects"], before["connects"], "a malformed frame cost a reconnect")
        self.assertEqual(self.relay.status()["status"], "connected")
        self.assertEqual(self.relay.status()["channels"][FLOW]["seq"], 5)
        self.assertTrue(self.relay.alive())
        self.relay.wait_log(r"malformed", 5)

    def test_payload_not_an_object(self):
        """UW's PAYLOAD is a JSON object; a bare string (or number, array) is malformed."""
        self.start()
        bad = ['["flow-alerts","just a string"]', '["flow-alerts",42]', '["flow-alerts",[1,2]]',
               '["flow-alerts",null]']
        for text in bad:
            self.sim.ctl("send", text=text, binary=0)
        self.sim.publish(FLOW, 1)
        forwarded = []
        while True:
            env, raw = harness.recv_envelope(self.c, 5)
            if isinstance(env.get("data"), dict) and "sim_seq" in env["data"]:
                break
            forwarded.append(raw)
        self.assertEqual(forwarded, [], "non-object payloads were forwarded")
        self.assertEqual(env["seq"], 1)
        wait_until(lambda: self.relay.conn()["malformed_frames"] == len(bad), 5,
                   msg="malformed_frames == %d" % len(bad))

    def test_unrouted_frame_counted(self):
        """A well-formed frame for a channel nobody joined is not delivered anywhere."""
        self.start()
        other = self.client(self.relay, "/api/stream/ws?channels=news")
        expect_subscribed(other, "news")
        before = self.relay.conn()["unrouted_frames"]
        self.sim.ctl("send", text='["gex:QQQ",{"x":1}]', binary=0)
        self.sim.publish(FLOW, 1)
        self.sim.publish("news", 1)
        self.assertEqual(recv_data(self.c, 1, channel=FLOW)[0][0]["seq"], 1)
        self.assertEqual(recv_data(other, 1, channel="news")[0][0]["seq"], 1)
        wait_until(lambda: self.relay.conn()["unrouted_frames"] == before + 1, 5,
                   msg="unrouted_frames + 1")
        self.assertEqual(self.relay.conn()["malformed_frames"], 0)
        self.assertNotIn("gex:QQQ", self.relay.status()["channels"])

    def test_oversize_frame_dropped(self):
        self.start(upstream={"max_frame": 4096})
        self.sim.publish(FLOW, 1, size=1000)
        self.assertEqual(recv_data(self.c, 1, channel=FLOW)[0][0]["seq"], 1)
        self.sim.ctl("send_big", channel=FLOW, bytes=20000)
        self.sim.publish(FLOW, 2, size=1000)
        got = recv_data(self.c, 2, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in got], [2, 3])
        for e, raw in got:
            self.assertLess(len(raw), 4096)
        conn = wait_until(lambda: (lambda c: c if c["oversize_frames"] >= 1 else None)(self.relay.conn()),
                          5, msg="oversize_frames counter")
        self.assertEqual(conn["oversize_frames"], 1)
        self.assertEqual(conn["malformed_frames"], 0)
        # a frame just under the limit still passes
        self.sim.publish(FLOW, 1, size=3500)
        env, raw = recv_data(self.c, 1, channel=FLOW)[0]
        self.assertEqual(env["seq"], 4)
        self.assertIsNone(self.c.expect_nothing(0.3))
        # twice more, with a fragmented-sized one well over the limit
        self.sim.ctl("send_big", channel=FLOW, bytes=300000)
        self.sim.publish(FLOW, 1, size=1000)
        self.assertEqual(recv_data(self.c, 1, channel=FLOW)[0][0]["seq"], 5)
        wait_until(lambda: self.relay.conn()["oversize_frames"] == 2, 5, msg="oversize_frames == 2")
        self.assertTrue(self.relay.alive())


if __name__ == "__main__":
    harness.main()
