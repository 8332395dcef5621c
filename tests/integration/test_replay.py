#!/usr/bin/env python3
"""uwrelay --replay TAPE (README, "History and replay"): recorded frames through the relay's own
pipeline at the recorded pacing divided by --speed (checked on the envelopes' timestamps, which
say when the relay sent each frame), at unlimited speed, within --from/--to, with --loop; status,
/metrics and readiness show the replay; bad arguments and a file that is not a tape.

Runs serially (tests/CMakeLists.txt): the pacing checks measure time."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, wait_until  # noqa: E402
from tapefile import Tape, iso_ms, ms_iso  # noqa: E402

FLOW = "flow-alerts"
T0 = 1796289400000          # 2026-12-03T09:16:40Z, any recorded time will do
# Pacing: a frame is never sent before its time (minus the envelope's ms rounding); it may be
# late when the loop or the machine is busy (2 shared cores, ASan): up to LATE_MS.
EARLY_MS = 3
LATE_MS = 250


class TestReplay(harness.IntegrationTest):

    def tape(self, rows, name="tape.db"):
        """rows: (channel, ts_ms, payload bytes). Returns the path."""
        path = os.path.join(self.tmp, name)
        t = Tape(path, "00000000000000aa")
        for i, (ch, ts, p) in enumerate(rows, 1):
            t.add(ch, "00000000000000aa", i, ts, p)
        t.close()
        return path

    def replay(self, path, *args, **over):
        over.setdefault("history", {"size": 10000, "max_bytes": 64 << 20})
        over.setdefault("clients", {"max_msg_rate": 10000, "max_queue_bytes": 64 << 20})
        cfg = harness.relay_config(harness.free_port(), "ws://127.0.0.1:9/socket", **over)
        self.relay = self.start_relay(cfg, token=None, args=["--replay", path] + list(args))
        return self.relay

    def status(self):
        return self.relay.status()

    def wait_done(self, timeout=30):
        return wait_until(lambda: (lambda s: s if s["replay"]["state"] == "done" else None)(self.status()),
                          timeout, msg="replay done")

    def all_frames(self, count, timeout=30):
        """Everything replayed so far, from the start, through a resume with since=0."""
        c = self.client(self.relay, "/api/stream/ws/flow?since=0")
        expect_subscribed(c, FLOW)
        return recv_data(c, count, channel=FLOW, timeout=timeout)

    @staticmethod
    def payload(i):
        return b'{"ticker":"SPY","total_premium":%d,"n":%d}' % (1000000 + i, i)

    def check_pacing(self, rec_ms, got, speed):
        sent = [iso_ms(e["timestamp"]) for e, _ in got]
        for i in range(1, len(sent)):
            want = (rec_ms[i] - rec_ms[0]) / speed
            have = sent[i] - sent[0]
            self.assertGreaterEqual(have, want - EARLY_MS, "frame %d sent early: %d ms after the first, "
                                    "recorded %.1f ms after it at %gx" % (i, have, want, speed))
            self.assertLessEqual(have, want + LATE_MS, "frame %d sent late: %d ms after the first, "
                                 "recorded %.1f ms after it at %gx" % (i, have, want, speed))

    # ---------------------------------------------------------------- speed

    def test_unlimited_speed(self):
        rows = [(FLOW, T0 + 1000 * i, self.payload(i)) for i in range(3000)]
        rows.insert(10, ("not_allowed_here", T0 + 10, b'{"x":1}'))   # a channel the relay does not serve
        self.replay(self.tape(rows), "--speed", "max")
        st = self.wait_done(30)
        self.assertEqual(st["status"], "replay")
        rp = st["replay"]
        self.assertEqual((rp["frames"], rp["skipped_frames"], rp["passes"], rp["speed"]), (3001, 1, 1, "max"))
        self.assertEqual(rp["position"], ms_iso(T0 + 1000 * 2999))
        self.assertIsNone(rp["error"])
        got = self.all_frames(3000)
        self.assertEqual([e["seq"] for e, _ in got], list(range(1, 3001)))
        self.assertEqual([harness.raw_data(raw) for _, raw in got], [self.payload(i) for i in range(3000)])
        st, _, body = self.relay.get("/metrics")
        text = body.decode()
        self.assertIn('uwrelay_replay_info{state="done"} 1', text)
        self.assertIn("uwrelay_replay_frames_total 3001", text)
        self.assertIn("uwrelay_replay_speed 0", text)
        self.assertIn("uwrelay_replay_position_seconds %.3f\n" % ((T0 + 2999000) / 1000), text)
        st, _, _ = self.relay.get("/readyz")
        self.assertEqual(st, 200, "a replaying relay is ready")

    def test_pacing_1x(self):
        rec = [T0 + 40 * i + (i % 3) * 7 for i in range(30)]     # ~40 ms apart, uneven
        self.replay(self.tape([(FLOW, t, self.payload(i)) for i, t in enumerate(rec)]))
        got = self.all_frames(30, timeout=20)
        self.check_pacing(rec, got, 1)
        self.assertEqual(self.status()["replay"]["speed"], 1)

    def test_pacing_10x(self):
        rec = [T0 + 200 * i for i in range(40)]                  # 200 ms apart: 20 ms at 10x
        self.replay(self.tape([(FLOW, t, self.payload(i)) for i, t in enumerate(rec)]), "--speed", "10")
        got = self.all_frames(40, timeout=20)
        self.check_pacing(rec, got, 10)
        total = iso_ms(got[-1][0]["timestamp"]) - iso_ms(got[0][0]["timestamp"])
        self.assertGreaterEqual(total, 780 - EARLY_MS, "7.8 s recorded take 0.78 s at 10x")

    # ---------------------------------------------------------------- range and loop

    def test_from_to(self):
        rows = [(FLOW, T0 + 60000 * i, self.payload(i)) for i in range(100)]   # one a minute
        self.replay(self.tape(rows), "--speed", "max", "--from", ms_iso(T0 + 60000 * 10),
                    "--to", ms_iso(T0 + 60000 * 20))
        rp = self.wait_done()["replay"]
        self.assertEqual(rp["frames"], 10)
        self.assertEqual((rp["from"], rp["to"]), (ms_iso(T0 + 600000), ms_iso(T0 + 1200000)))
        got = self.all_frames(10)
        self.assertEqual([harness.raw_data(r) for _, r in got], [self.payload(i) for i in range(10, 20)])
        c = self.client(self.relay, "/api/stream/ws/flow?since=10")
        expect_subscribed(c, FLOW)
        self.assertIsNone(c.expect_nothing(0.3), "nothing beyond --to")

    def test_loop(self):
        rows = [(FLOW, T0 + i, self.payload(i)) for i in range(200)]
        self.replay(self.tape(rows), "--speed", "max", "--loop", history={"size": 100})
        st = wait_until(lambda: (lambda s: s if s["replay"]["passes"] >= 3 else None)(self.status()),
                        20, msg="three passes")
        self.assertEqual(st["replay"]["state"], "playing")
        self.assertTrue(st["replay"]["loop"])
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        got = recv_data(c, 300, channel=FLOW, timeout=20)
        seqs = [e["seq"] for e, _ in got]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 300)), "seqs keep counting across passes")
        ns = [json.loads(harness.raw_data(r))["n"] for _, r in got]
        for a, b in zip(ns, ns[1:]):
            self.assertEqual(b, (a + 1) % 200, "the tape again from its start")

    # ---------------------------------------------------------------- errors

    def test_bad_arguments(self):
        path = self.tape([(FLOW, T0, b"{}")])
        for args, word in ((["--replay", path, "--speed", "fast"], "--speed"),
                           (["--replay", path, "--from", "yesterday"], "--from"),
                           (["--replay", path, "--from", "2026-12-03T10:00:00Z", "--to",
                             "2026-12-03T09:00:00Z"], "--to"),
                           (["--loop"], "--replay")):
            p = subprocess.run([harness.relay_bin()] + args, capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(word, p.stderr.decode(), args)

    def test_not_a_tape(self):
        path = os.path.join(self.tmp, "junk.db")
        with open(path, "wb") as f:
            f.write(b"not SQLite at all\n" * 200)
        self.replay(path)
        st = wait_until(lambda: (lambda s: s if s["replay"]["state"] == "failed" else None)(self.status()),
                        10, msg="replay failed")
        self.assertRegex(st["replay"]["error"], re.compile("not a uwrelay tape|cannot open", re.I))
        code, _, _ = self.relay.get("/readyz")
        self.assertEqual(code, 503)
        self.relay.wait_log(r"replay: .*junk\.db")
        self.assertTrue(self.relay.alive())

    def test_empty_range(self):
        self.replay(self.tape([(FLOW, T0, b"{}")]), "--from", "2030-01-01")
        st = wait_until(lambda: (lambda s: s if s["replay"]["state"] == "failed" else None)(self.status()),
                        10, msg="replay failed")
        self.assertIn("no frames", st["replay"]["error"])


if __name__ == "__main__":
    harness.main()
