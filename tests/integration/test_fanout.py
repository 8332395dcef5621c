#!/usr/bin/env python3
"""Fan-out: several browsers get every frame, in order, with UW's payload byte for byte."""

import json
import time
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import (Collector, expect_subscribed, raw_data, raw_record_payload,  # noqa: E402
                     wait_until)

FLOW = "flow-alerts"
OTHER = "price:SPY"
N_FLOW = 3000
N_OTHER = 500


class TestFanout(harness.IntegrationTest):

    def test_fanout_byte_exact(self):
        # about byte-exactness, not slow consumers (test_slow_consumer_closed_4001): a queue big
        # enough for every frame, so Python readers starved by a busy machine are not cut
        sim, relay = self.sim_and_relay(sim_kw={"record": True},
                                        clients={"max_queue_bytes": 64 * 1024 * 1024})
        flows = []
        for _ in range(3):
            c = self.client(relay, "/api/stream/ws/flow")
            expect_subscribed(c, FLOW)
            flows.append(c)
        other = self.client(relay, "/api/stream/ws?channels=" + OTHER)
        expect_subscribed(other, OTHER)
        wait_until(lambda: (lambda j: j.get(FLOW) == 1 and j.get(OTHER) == 1)(sim.stats()["joined"]),
                   5, msg="both channels joined upstream")

        collectors = [Collector(c, N_FLOW, timeout=40) for c in flows]
        collectors.append(Collector(other, N_OTHER, timeout=40))
        for col in collectors:
            col.start()
        # interleave the two channels upstream
        for i in range(10):
            sim.publish(FLOW, N_FLOW // 10)
            sim.publish(OTHER, N_OTHER // 10)
        for col in collectors:
            col.join(45)
        for i, col in enumerate(collectors):
            self.assertFalse(col.is_alive(), "collector %d still running" % i)
            self.assertIsNone(col.error, "client %d: %r after %d frames"
                              % (i, col.error, len(col.frames)))

        wait_until(lambda: len(sim.records()) >= N_FLOW + N_OTHER, 5,
                   msg="all frames in the sim's --record file")
        recorded = {FLOW: [], OTHER: []}
        for line in sim.records():
            ch, payload = raw_record_payload(line)
            recorded.setdefault(ch, []).append(payload)
        self.assertEqual(len(recorded[FLOW]), N_FLOW)
        self.assertEqual(len(recorded[OTHER]), N_OTHER)

        epoch = relay.status()["epoch"]
        for idx, (col, ch) in enumerate(zip(collectors, [FLOW, FLOW, FLOW, OTHER])):
            expect = recorded[ch]
            self.assertEqual(len(col.frames), len(expect))
            for k, raw in enumerate(col.frames):
                env = json.loads(raw)
                self.assertEqual(env["channel"], ch, raw[:200])
                self.assertEqual(env["seq"], k + 1, "client %d frame %d" % (idx, k))
                self.assertEqual(env["epoch"], epoch)
                got = raw_data(raw)
                if got != expect[k]:
                    self.fail("client %d frame %d: data differs from the recorded payload\n"
                              " got: %r\nwant: %r" % (idx, k, got[:300], expect[k][:300]))
            # nothing extra queued behind
            self.assertIsNone(col.client.expect_nothing(0.2))

        s = relay.status()
        self.assertEqual(s["channels"][FLOW]["seq"], N_FLOW)
        self.assertEqual(s["channels"][OTHER]["seq"], N_OTHER)
        self.assertEqual(s["total_clients"], 4)
        self.assertEqual(s["uw_connection"]["malformed_frames"], 0)

    def test_big_payloads_byte_exact(self):
        """Frames of ~60 KB (bigger than typical socket reads) survive splicing unchanged."""
        sim, relay = self.sim_and_relay(sim_kw={"record": True})
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: sim.stats()["joined"].get(FLOW) == 1, 5)
        col = Collector(c, 20, timeout=20)
        col.start()
        sim.publish(FLOW, 20, size=60000)
        col.join(25)
        self.assertIsNone(col.error, "%r after %d frames" % (col.error, len(col.frames)))
        wait_until(lambda: len(sim.records()) >= 20, 5, msg="20 frames in the --record file")
        recs = [raw_record_payload(l)[1] for l in sim.records()]
        self.assertEqual(len(recs), 20)
        for k, raw in enumerate(col.frames):
            self.assertGreater(len(raw), 50000)
            self.assertEqual(raw_data(raw), recs[k], "frame %d" % k)

    def test_slow_consumer_closed_4001(self):
        """A browser that stops reading is closed with 4001; the others get everything."""
        sim, relay = self.sim_and_relay(clients={"max_queue_bytes": 262144})
        fast = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(fast, FLOW)
        slow = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(slow, FLOW)
        # a small receive window, so the kernel cannot soak up the backlog for it
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        wait_until(lambda: sim.stats()["joined"].get(FLOW) == 1, 5)
        n = 5000
        col = Collector(fast, n, timeout=40)
        col.start()
        # paced at ~2,000 frames/s (4.6 MB/s): a reader that keeps up with
        # the feed keeps up; one that does not read falls 256 KiB behind
        def feed():
            for _ in range(n // 100):
                sim.publish(FLOW, 100, size=2000)
                time.sleep(0.05)
        publisher = threading.Thread(target=feed, daemon=True)
        publisher.start()
        self.addCleanup(publisher.join, 30)
        # the relay gives a closed subscriber a few seconds to take its close
        # frame: read it while the feed still runs
        wait_until(lambda: relay.status()["slow_consumers_closed"] >= 1, 20,
                   msg="the slow subscriber is closed")
        # read what reached the slow one: a gapless prefix, then close code 4001
        # (open the window again first, or draining it crawls)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        seqs = []
        code = None
        try:
            while True:
                op, payload = slow.recv_message(10)
                env = json.loads(payload)
                if env["channel"] != "$relay":
                    seqs.append(env["seq"])
        except wsclient.WSClosed as e:
            code = e.code
        except OSError as e:
            self.fail("slow client: %r after %d frames, no close frame" % (e, len(seqs)))
        self.assertEqual(code, 4001, "after %d frames" % len(seqs))
        self.assertLess(len(seqs), n)
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        col.join(45)
        self.assertIsNone(col.error, "fast client: %r after %d frames" % (col.error, len(col.frames)))
        self.assertEqual([json.loads(r)["seq"] for r in col.frames], list(range(1, n + 1)))
        s = relay.status()
        self.assertEqual(s["slow_consumers_closed"], 1)
        self.assertEqual(s["total_clients"], 1)


if __name__ == "__main__":
    harness.main()
