#!/usr/bin/env python3
"""Resuming without loss (docs/PROTOCOL.md): ?since=SEQ&epoch=E and subscribe with since."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"


class TestResume(harness.IntegrationTest):

    def start(self, **over):
        over.setdefault("clients", {"max_msg_rate": 10000})
        self.sim, self.relay = self.sim_and_relay(**over)
        # a subscriber that keeps the channel joined and sees everything live
        self.live = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(self.live, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        self.epoch = self.relay.status()["epoch"]

    def publish_live(self, n):
        self.sim.publish(FLOW, n)
        return recv_data(self.live, n, channel=FLOW)

    def test_resume_replays_missed_frames(self):
        self.start()
        seen = {e["seq"]: raw for e, raw in self.publish_live(10)}
        c = self.client(self.relay, "/api/stream/ws/flow?since=4&epoch=%s" % self.epoch)
        sub = expect_subscribed(c, FLOW)
        self.assertEqual(sub["data"].get("seq"), 10)
        self.assertEqual(sub["data"].get("upstream"), "connected")
        replay = recv_data(c, 6, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in replay], [5, 6, 7, 8, 9, 10])
        for e, raw in replay:
            self.assertEqual(raw, seen[e["seq"]], "replayed envelope differs from the live one")
        # then live, no gap, no duplicate
        self.publish_live(2)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 2, channel=FLOW)], [11, 12])
        self.assertIsNone(c.expect_nothing(0.2))

    def test_resume_nothing_missed(self):
        self.start()
        self.publish_live(3)
        c = self.client(self.relay, "/api/stream/ws/flow?since=3&epoch=%s" % self.epoch)
        expect_subscribed(c, FLOW)
        self.publish_live(1)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 1, channel=FLOW)], [4])

    def test_resume_too_old_gap(self):
        self.start(history={"size": 5})
        self.publish_live(10)
        c = self.client(self.relay, "/api/stream/ws/flow?since=2&epoch=%s" % self.epoch)
        expect_subscribed(c, FLOW)
        gap = recv_relay(c)["data"]
        self.assertEqual(gap["type"], "gap", gap)
        self.assertEqual(gap["channel"], FLOW)
        self.assertEqual(gap["reason"], "too_old")
        self.assertEqual((gap["from"], gap["to"]), (3, 5))
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 5, channel=FLOW)], [6, 7, 8, 9, 10])
        self.publish_live(1)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 1, channel=FLOW)], [11])

    def test_resume_other_epoch(self):
        self.start()
        self.publish_live(5)
        other = "0123456789abcdef" if self.epoch != "0123456789abcdef" else "fedcba9876543210"
        c = self.client(self.relay, "/api/stream/ws/flow?since=2&epoch=%s" % other)
        expect_subscribed(c, FLOW)
        gap = recv_relay(c)["data"]
        self.assertEqual((gap["type"], gap["reason"], gap["channel"]), ("gap", "epoch", FLOW))
        # live data only: no replay of 3..5
        self.publish_live(1)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 1, channel=FLOW)], [6])

    def test_subscribe_message_with_since(self):
        self.start()
        self.publish_live(4)
        c = self.client(self.relay, "/api/stream/ws")
        c.send_json({"action": "subscribe", "channel": FLOW, "since": 1, "epoch": self.epoch})
        expect_subscribed(c, FLOW)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 3, channel=FLOW)], [2, 3, 4])
        c.send_json({"action": "subscribe", "channel": "news", "since": "x"})
        err = recv_relay(c)["data"]
        self.assertEqual((err["type"], err["code"]), ("error", "bad_request"))
        c.send_json({"action": "subscribe", "channel": "news", "since": 0, "epoch": "nothex"})
        err = recv_relay(c)["data"]
        self.assertEqual((err["type"], err["code"]), ("error", "bad_request"))

    def test_generic_query_since(self):
        self.start()
        g = self.client(self.relay, "/api/stream/ws?channels=news")
        expect_subscribed(g, "news")
        wait_until(lambda: self.sim.stats()["joined"].get("news") == 1, 5)
        self.sim.publish("news", 3)
        recv_data(g, 3, channel="news")
        self.publish_live(3)
        c = self.client(self.relay, "/api/stream/ws?channels=flow-alerts,news&since=1&epoch=%s"
                        % self.epoch)
        subs = set()
        frames = []
        while len(frames) < 4:
            env, raw = harness.recv_envelope(c)
            if harness.is_relay_msg(env):
                self.assertEqual(env["data"]["type"], "subscribed", env)
                subs.add(env["data"]["channel"])
            else:
                frames.append((env["channel"], env["seq"]))
        self.assertEqual(subs, {FLOW, "news"})
        self.assertEqual(sorted(frames), [(FLOW, 2), (FLOW, 3), ("news", 2), ("news", 3)])


if __name__ == "__main__":
    harness.main()
