#!/usr/bin/env python3
"""Resuming without loss (docs/PROTOCOL.md): ?since=SEQ&epoch=E and subscribe with since."""

import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
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

    def test_resume_while_live_frames_arrive(self):
        """A resume with a long replay while the feed keeps publishing: the resumed client gets
        every seq after `since` exactly once, in order, across the replay/live boundary."""
        self.start(history={"size": 5000, "max_bytes": 64 << 20},
                   clients={"max_msg_rate": 100000, "max_queue_bytes": 64 << 20})
        self.publish_live(3000)
        live_seqs = []
        drain_err = []

        def drain():
            # the live subscriber keeps reading so it is never the slow one
            try:
                while True:
                    env, _ = harness.recv_envelope(self.live, 10)
                    if not harness.is_relay_msg(env):
                        live_seqs.append(env["seq"])
            except wsclient.WSClosed:
                pass
            except Exception as e:  # reported below
                drain_err.append(e)
        stop = threading.Event()
        published = [0]

        def feed():
            # bounded: at most 200 batches of 10
            for _ in range(200):
                if stop.is_set():
                    return
                self.sim.publish(FLOW, 10)
                published[0] += 10
        drainer = threading.Thread(target=drain, daemon=True)
        feeder = threading.Thread(target=feed, daemon=True)
        drainer.start()
        feeder.start()
        wait_until(lambda: published[0] >= 50, 10, msg="the feed is running")
        c = self.client(self.relay, "/api/stream/ws/flow?since=100&epoch=%s" % self.epoch)
        sub = expect_subscribed(c, FLOW)
        at_subscribe = sub["data"].get("seq")
        self.assertGreater(at_subscribe, 3000, "the feed had not reached the relay")
        got = []
        # read while the feed goes on, then stop it and read to the end
        got += [e["seq"] for e, _ in recv_data(c, 1500, channel=FLOW, timeout=30)]
        stop.set()
        feeder.join(30)
        self.assertFalse(feeder.is_alive())
        last = 3000 + published[0]
        self.assertGreater(last, at_subscribe, "no live frame arrived after the subscribe")
        wait_until(lambda: len(live_seqs) >= published[0], 30, msg="live subscriber has all")
        got += [e["seq"] for e, _ in recv_data(c, last - 100 - len(got), channel=FLOW, timeout=30)]
        sys.stderr.write("resume since=100 at seq %d: %d frames replayed, %d published live "
                         "during and after\n" % (at_subscribe, at_subscribe - 100, last - at_subscribe))
        dups = len(got) - len(set(got))
        self.assertEqual(dups, 0, "duplicates in the resumed stream")
        self.assertEqual(got, list(range(101, last + 1)),
                         "hole or reorder (first break at index %d)"
                         % next((i for i, (a, b) in enumerate(zip(got, range(101, last + 1)))
                                 if a != b), -1))
        self.assertIsNone(c.expect_nothing(0.2))
        self.assertEqual(drain_err, [])
        self.assertEqual(live_seqs, list(range(3001, last + 1)))

    def test_history_size_zero(self):
        """history.size 0: nothing is kept, a resume gets a too_old gap over all it missed and
        then live frames only."""
        self.start(history={"size": 0})
        self.publish_live(5)
        c = self.client(self.relay, "/api/stream/ws/flow?since=2&epoch=%s" % self.epoch)
        expect_subscribed(c, FLOW)
        gap = recv_relay(c)["data"]
        self.assertEqual((gap["type"], gap["reason"], gap["channel"]), ("gap", "too_old", FLOW), gap)
        self.assertEqual((gap["from"], gap["to"]), (3, 5))
        self.assertIsNone(c.expect_nothing(0.2), "a frame replayed with history.size 0")
        self.publish_live(1)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 1, channel=FLOW)], [6])
        # nothing held, by the relay's own account
        self.assertEqual(history_metric(self.relay, "frames", FLOW), 0)
        self.assertEqual(history_metric(self.relay, "bytes", FLOW), 0)

    def test_history_max_bytes_evicts(self):
        """history.max_bytes bounds what a resume can get: the gap names exactly the frames
        evicted, the replay has the rest, contiguous, and within the byte budget."""
        size = 2000
        budget = 10 * size
        self.start(history={"size": 1000, "max_bytes": budget})
        self.sim.publish(FLOW, 40, size=size)
        recv_data(self.live, 40, channel=FLOW)
        c = self.client(self.relay, "/api/stream/ws/flow?since=0&epoch=%s" % self.epoch)
        expect_subscribed(c, FLOW)
        gap = recv_relay(c)["data"]
        self.assertEqual((gap["type"], gap["reason"]), ("gap", "too_old"), gap)
        self.assertEqual(gap["from"], 1)
        kept = 40 - gap["to"]
        self.assertGreater(kept, 0)
        self.assertLess(kept, 11, "more frames of %d bytes kept than fit in %d" % (size, budget))
        self.assertGreaterEqual(kept, 5, "far fewer frames kept than the budget holds")
        replay = recv_data(c, kept, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in replay], list(range(gap["to"] + 1, 41)))
        self.assertIsNone(c.expect_nothing(0.2))
        self.assertLessEqual(history_metric(self.relay, "bytes", FLOW), budget)
        self.assertEqual(history_metric(self.relay, "frames", FLOW), kept)


def history_metric(relay, what, channel):
    """uwrelay_history_{frames,bytes}{channel=...} from /metrics, as an int."""
    status, _, body = relay.get("/metrics")
    assert status == 200, status
    rx = re.compile(r'^uwrelay_history_%s\{channel="%s"\} (\d+)$' % (what, re.escape(channel)), re.M)
    m = rx.search(body.decode())
    assert m, "no uwrelay_history_%s for %s in /metrics" % (what, channel)
    return int(m.group(1))

if __name__ == "__main__":
    harness.main()
