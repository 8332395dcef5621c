#!/usr/bin/env python3
"""The tape (README "Your tape"): taped channels recorded to SQLite whether or not a browser
listens, epoch and seq continued across a restart, retention, and the faults that must not stop
the relay (disk full, a file that is not SQLite, a read-only file, SIGKILL while writing)."""

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"
NEWS = "news"


def rows(path, sql="SELECT channel, epoch, seq, ts, payload FROM frames ORDER BY id", args=()):
    """Rows of the tape, read as any owner would (a separate read-only connection)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def meta(path):
    return dict(rows(path, "SELECT key, value FROM meta"))


class TestTape(harness.IntegrationTest):

    def tape_cfg(self, **over):
        t = {"path": os.path.join(self.tmp, "tape.db"), "channels": [FLOW, NEWS]}
        t.update(over)
        return t

    def start(self, sim_kw=None, tape=None, **over):
        self.db = (tape or {}).get("path") or os.path.join(self.tmp, "tape.db")
        self.sim = self.start_sim(**(sim_kw or {"record": True}))
        over.setdefault("upstream", {"leave_delay": 0})
        over.setdefault("clients", {"max_msg_rate": 10000})
        self.cfg = harness.relay_config(harness.free_port(), self.sim.url(),
                                        tape=tape or self.tape_cfg(), **over)
        self.relay = self.start_relay(self.cfg)
        self.relay.wait_connected(10)
        return self.relay

    def restart(self):
        self.relay.stop()
        self.relay = self.start_relay(self.cfg)
        self.relay.wait_connected(10)
        return self.relay

    def tape(self):
        return self.relay.status()["tape"]

    def wait_recorded(self, n, timeout=10):
        wait_until(lambda: self.tape()["recorded"] >= n, timeout, msg="%d frames recorded" % n)

    def wait_joined(self, *channels):
        for ch in channels:
            wait_until(lambda: self.sim.stats()["joined"].get(ch) == 1, 10, msg="%s joined" % ch)

    def test_records_without_subscribers_then_continues_after_restart(self):
        self.start()
        # taped channels are joined with no browser on them, and stay joined
        self.wait_joined(FLOW, NEWS)
        self.sim.publish(FLOW, 20)
        self.sim.publish(NEWS, 3)
        self.wait_recorded(23)
        st = self.relay.status()
        epoch = st["channels"][FLOW]["epoch"]
        self.assertEqual(st["tape"]["state"], "recording")
        self.assertEqual(st["channels"][FLOW]["seq"], 20)
        got = rows(self.db)
        self.assertEqual(len(got), 23)
        # each frame as UW sent it, byte for byte, with its channel, epoch and seq
        sent = [harness.raw_record_payload(l) for l in self.sim.records()]
        self.assertEqual([(c, p) for c, _, _, _, p in got], [(c, p.decode()) for c, p in sent])
        self.assertEqual([s for c, _, s, _, _ in got if c == FLOW], list(range(1, 21)))
        self.assertEqual({e for _, e, _, _, _ in got}, {epoch})
        self.assertEqual(meta(self.db)["epoch"], epoch)
        # a browser that saw seq 20 of this epoch
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        c.close()

        self.restart()
        self.assertEqual(meta(self.db)["epoch"], epoch)
        st = self.relay.status()
        self.assertNotEqual(st["epoch"], epoch, "the run's own epoch is fresh")
        self.assertEqual(st["channels"][FLOW]["epoch"], epoch, "the taped channel keeps the tape's")
        self.assertEqual(st["channels"][FLOW]["seq"], 20)
        self.wait_joined(FLOW, NEWS)
        c = self.client(self.relay, "/api/stream/ws/flow?since=20&epoch=%s" % epoch)
        sub = expect_subscribed(c, FLOW)
        self.assertEqual(sub["data"]["seq"], 20)
        self.assertEqual(sub["epoch"], epoch)
        self.sim.publish(FLOW, 2)
        # no gap notice (recv_data refuses any $relay message but upstream ones), seq goes on
        envs = [e for e, _ in recv_data(c, 2, channel=FLOW)]
        self.assertEqual([(e["seq"], e["epoch"]) for e in envs], [(21, epoch), (22, epoch)])
        self.wait_recorded(2)
        self.assertEqual([s for s, in rows(self.db, "SELECT seq FROM frames WHERE channel=? ORDER BY id",
                                           (FLOW,))], list(range(1, 23)))
        # a channel that is not taped gets the run's epoch
        d = self.client(self.relay, "/api/stream/ws/dark-pool")
        expect_subscribed(d, "off_lit_trades")
        self.wait_joined("off_lit_trades")
        self.sim.publish("off_lit_trades", 1)
        e, _ = recv_data(d, 1, channel="off_lit_trades")[0]
        self.assertEqual((e["seq"], e["epoch"]), (1, st["epoch"]))
        self.assertEqual(self.tape()["recorded"], 2, "only taped channels are recorded")

    def test_restarted_relay_resumes_a_storm_from_memory(self):
        """A restarted relay reads each taped channel's newest frames back into memory before it
        accepts anyone: a crowd reconnecting with since resumes from memory (the tape reader takes
        64 queries at a time: one per browser would leave the rest with a gap), and a since older
        than memory still gets the tape's frames."""
        self.start(history={"size": 10})
        self.wait_joined(FLOW, NEWS)
        self.sim.publish(FLOW, 25)
        self.wait_recorded(25)
        epoch = self.relay.status()["channels"][FLOW]["epoch"]
        self.restart()
        # before any new frame: memory holds the newest 10, as the old relay did
        m = self.relay.get("/metrics")[2].decode()
        self.assertIn('uwrelay_history_frames{channel="%s"} 10\n' % FLOW, m)
        self.assertIn('uwrelay_history_frames{channel="%s"} 0\n' % NEWS, m)
        crowd = [self.client(self.relay, "/api/stream/ws/flow?since=17&epoch=%s" % epoch)
                 for _ in range(100)]
        old = self.client(self.relay, "/api/stream/ws/flow?since=5&epoch=%s" % epoch)
        for c in crowd:
            self.assertEqual(expect_subscribed(c, FLOW)["data"]["seq"], 25)
            self.assertEqual([e["seq"] for e, _ in recv_data(c, 8, channel=FLOW)], list(range(18, 26)))
        expect_subscribed(old, FLOW)
        self.assertEqual([e["seq"] for e, _ in recv_data(old, 20, channel=FLOW)], list(range(6, 26)))
        reads = {}
        for line in self.relay.get("/metrics")[2].decode().splitlines():
            if line.startswith("uwrelay_tape_reads_total{"):
                reads[line.split('"')[1]] = int(line.split()[-1])
        # one read at start (flow-alerts; news has nothing), one for the resume older than memory
        self.assertEqual(reads, {"ok": 2, "failed": 0, "refused": 0})

    def test_readme_queries(self):
        """The README's example queries give what the same question asked in Python gives."""
        with open(os.path.join(harness.REPO, "README.md")) as f:
            readme = f.read()
        sec = readme[readme.index("## Your tape"):readme.index("## Scaling out")]
        block = sec[sec.index("-- today's SPY"):]
        block = block[:block.index("```")]
        queries = [q.strip() for q in block.split(";") if q.strip()]
        self.assertEqual(len(queries), 3)
        self.start()
        self.wait_joined(FLOW, NEWS)
        self.sim.publish(FLOW, 400)
        self.sim.publish(NEWS, 100)
        self.wait_recorded(500)
        db = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            got = [db.execute(q).fetchall() for q in queries]
        finally:
            db.close()
        flow = [json.loads(p) for c, _, _, _, p in rows(self.db) if c == FLOW]
        news = [(ts, json.loads(p)) for c, _, _, ts, p in rows(self.db) if c == NEWS]
        big_spy = [a["option_chain"] for a in flow if a["ticker"] == "SPY" and a["total_premium"] > 1e6]
        self.assertEqual([chain for _, chain, _ in got[0]], big_spy)
        per = {}
        for a in flow:
            n, p = per.get(a["ticker"], (0, 0))
            per[a["ticker"]] = (n + 1, p + a["total_premium"])
        top = sorted(per.items(), key=lambda kv: -kv[1][1])[:10]
        self.assertEqual([(t, n, p) for t, n, p in got[1]], [(t, n, p) for t, (n, p) in top])
        nvda = [h["headline"] for ts, h in sorted(news, key=lambda x: -x[0]) if "NVDA" in h["tickers"]][:20]
        self.assertEqual(sorted(h for _, h in got[2]), sorted(nvda))
        self.assertTrue(got[1], "the sim's flow gave no ticker at all")

    def test_retention_by_age_keeps_seq(self):
        self.start(tape=self.tape_cfg(retention={"max_age": "1s", "max_bytes": 0}))
        self.wait_joined(FLOW)
        self.sim.publish(FLOW, 10)
        self.wait_recorded(10)
        # a retention pass every 10 s deletes what is older than a second
        wait_until(lambda: self.tape()["retention"]["deleted"] >= 10, 25, msg="old frames deleted")
        self.assertEqual(rows(self.db, "SELECT COUNT(*) FROM frames"), [(0,)])
        # seqs do not start again though the frames are gone
        self.restart()
        self.assertEqual(self.relay.status()["channels"][FLOW]["seq"], 10)

    def test_retention_by_size(self):
        self.start(tape=self.tape_cfg(retention={"max_age": 0, "max_bytes": "1M"}))
        self.wait_joined(FLOW)
        for _ in range(6):
            self.sim.publish(FLOW, 500, size=1000)
        self.wait_recorded(3000, 20)
        wait_until(lambda: 0 < self.tape()["used_bytes"] <= 1 << 20 and
                   self.tape()["retention"]["deleted"] > 0, 25, msg="tape trimmed to 1 MiB")
        (n, lo, hi), = rows(self.db, "SELECT COUNT(*), MIN(seq), MAX(seq) FROM frames")
        self.assertLess(n, 3000)
        self.assertEqual(hi, 3000, "the newest frames are kept")
        self.assertEqual(hi - lo + 1, n, "what is kept is contiguous: the oldest went first")

    def test_disk_full_then_recovers(self):
        self.start()
        self.wait_joined(FLOW)
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.sim.publish(FLOW, 5)
        recv_data(c, 5, channel=FLOW)
        self.wait_recorded(5)
        pid = self.relay.proc.p.pid
        # files may grow no further than 256 KiB: the next big batch fails with EFBIG (the relay
        # ignores SIGXFSZ), as on a full disk
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (256 << 10, resource.RLIM_INFINITY))
        try:
            self.sim.publish(FLOW, 40, size=20000)
            recv_data(c, 40, channel=FLOW)  # relaying goes on
            wait_until(lambda: self.tape()["not_recorded"]["write_failed"] > 0, 10,
                       msg="failed writes counted")
            t = self.tape()
            self.assertEqual(t["state"], "failing")
            self.assertTrue(t["last_error"])
            _, _, body = self.relay.get("/metrics")
            self.assertIn(b"uwrelay_tape_up 0", body)
            self.assertRegex(body.decode(), r'uwrelay_tape_frames_not_recorded_total\{reason="write_failed"\} [1-9]')
            self.relay.wait_log(r"tape: .*not recorded", 10)
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        # space again: the writer retries (with back-off) and records what comes next
        failed_before = self.tape()["not_recorded"]["total"]
        recorded_before = self.tape()["recorded"]
        self.sim.publish(FLOW, 3)
        recv_data(c, 3, channel=FLOW)
        wait_until(lambda: self.tape()["state"] == "recording" and
                   self.tape()["recorded"] >= recorded_before + 3, 40, msg="recording again")
        self.relay.wait_log(r"tape: recording to .* again", 5)
        seqs = [s for s, in rows(self.db, "SELECT seq FROM frames WHERE channel=? ORDER BY seq", (FLOW,))]
        self.assertEqual(seqs[:5], [1, 2, 3, 4, 5])
        self.assertEqual(seqs[-3:], [46, 47, 48])
        # every frame is either stored or counted as not stored
        self.assertEqual(len(seqs) + failed_before, 48)
        self.assertTrue(rows(self.db, "PRAGMA integrity_check") == [("ok",)])

    def test_writer_held_up_drops_and_counts_never_blocks_relaying(self):
        """Another program holds the tape's write lock (as a slow disk would hold the writer):
        the buffers (2 x 16 MiB) fill, later frames are relayed but counted as not recorded."""
        self.start(upstream={"leave_delay": 0, "max_frame": 8 << 20},
                   clients={"max_msg_rate": 10000, "max_queue_bytes": 128 << 20})
        self.wait_joined(FLOW)
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.sim.publish(FLOW, 1)
        recv_data(c, 1, channel=FLOW)
        self.wait_recorded(1)
        lock = sqlite3.connect(self.db, isolation_level=None, timeout=10)
        try:
            lock.execute("BEGIN IMMEDIATE")
            self.sim.publish(FLOW, 12, size=4 << 20)
            self.assertEqual([e["seq"] for e, _ in recv_data(c, 12, timeout=30, channel=FLOW)],
                             list(range(2, 14)), "relaying went on while the tape was held up")
            wait_until(lambda: self.tape()["not_recorded"]["queue_full"] > 0, 20,
                       msg="frames beyond the buffers counted")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.sim.publish(FLOW, 2)
        recv_data(c, 2, timeout=20, channel=FLOW)
        wait_until(lambda: 15 in [s for s, in rows(self.db, "SELECT seq FROM frames")], 40,
                   msg="recording again after the lock went")
        t = self.tape()
        seqs = [s for s, in rows(self.db, "SELECT seq FROM frames ORDER BY seq")]
        self.assertEqual(seqs[0], 1)
        self.assertEqual(seqs[-2:], [14, 15])
        self.assertEqual(len(seqs) + t["not_recorded"]["total"], 15, "each frame stored or counted")

    def test_sigkill_while_writing_leaves_a_sound_file(self):
        self.start(sim_kw={"rate": 3000, "size": 1000})
        self.wait_recorded(3000, 20)
        self.relay.proc.p.send_signal(signal.SIGKILL)
        self.relay.proc.p.wait(10)
        self.relay.stop()  # closes its log files; it is gone already
        self._procs.remove(self.relay)  # killed on purpose: not a problem at teardown
        self.assertEqual(rows(self.db, "PRAGMA integrity_check"), [("ok",)])
        (n, hi), = rows(self.db, "SELECT COUNT(*), MAX(seq) FROM frames WHERE channel=?", (FLOW,))
        self.assertEqual(n, hi, "every committed frame is there, no hole")
        old = meta(self.db)
        self.assertEqual(old["clean"], "0")
        # the next run cannot know which seqs were handed out unrecorded: new epoch, said so
        self.relay = self.start_relay(self.cfg)
        self.relay.wait_log(r"was not closed cleanly", 10)
        st = self.relay.status()
        self.assertNotEqual(st["channels"][FLOW]["epoch"], old["epoch"])
        self.assertEqual(meta(self.db)["epoch"], st["channels"][FLOW]["epoch"])
        self.assertGreater(rows(self.db, "SELECT COUNT(*) FROM frames WHERE epoch=?", (old["epoch"],))[0][0], 0)

    def test_not_sqlite_file_left_alone_and_relaying_goes_on(self):
        path = os.path.join(self.tmp, "tape.db")
        junk = b"these are my notes, not a database\n" * 200
        with open(path, "wb") as f:
            f.write(junk)
        self.start()
        self.relay.wait_log(r"tape: .*not an SQLite database", 10)
        t = self.tape()
        self.assertEqual(t["state"], "failing")
        self.assertIn("not an SQLite database", t["last_error"])
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.sim.publish(FLOW, 3)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 3, channel=FLOW)], [1, 2, 3])
        wait_until(lambda: self.tape()["not_recorded"]["write_failed"] >= 3, 40,
                   msg="frames counted as not recorded")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), junk, "the file was modified")
        # the owner moves the file away: the next retry makes a new tape
        os.rename(path, path + ".notes")
        wait_until(lambda: self.tape()["state"] == "recording", 40, msg="recording after the file moved")
        self.sim.publish(FLOW, 2)
        recv_data(c, 2, channel=FLOW)
        self.wait_recorded(2)
        self.assertEqual([s for s, in rows(path, "SELECT seq FROM frames")], [4, 5])

    def test_read_only_tape(self):
        """A tape folder mounted read-only (a bind mount in a private mount namespace: as root,
        file modes do not stop writes), made writable again later."""
        if not shutil.which("unshare") or not shutil.which("nsenter") or os.geteuid() != 0 or \
                subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            if os.environ.get("CI") == "true":
                self.fail("unshare -m (root, util-linux) is needed for the read-only test")
            self.skipTest("needs root and unshare -m")
        d = os.path.join(self.tmp, "ro")
        os.mkdir(d)
        path = os.path.join(d, "tape.db")
        # a tape with a frame in it, then the folder goes read-only under the relay
        inner = os.path.join(self.tmp, "ro-inner.sh")
        with open(inner, "w") as f:
            f.write("#!/bin/sh\nmount --make-rprivate / && mount --bind '%s' '%s' && "
                    "mount -o remount,bind,ro '%s' && exec '%s' \"$@\"\n"
                    % (d, d, d, harness.relay_bin()))
        outer = os.path.join(self.tmp, "ro-relay.sh")
        with open(outer, "w") as f:
            f.write("#!/bin/sh\nexec unshare -m '%s' \"$@\"\n" % inner)
        os.chmod(inner, 0o755)
        os.chmod(outer, 0o755)
        sqlite3.connect(path).executescript("PRAGMA journal_mode=WAL; CREATE TABLE x(y);").close()
        real = harness.relay_bin
        harness.relay_bin = lambda: outer  # the same process: sh, unshare and sh exec the relay
        try:
            self.sim = self.start_sim()
            self.cfg = harness.relay_config(harness.free_port(), self.sim.url(),
                                            upstream={"leave_delay": 0},
                                            tape=self.tape_cfg(path=path))
            self.relay = self.start_relay(self.cfg)
        finally:
            harness.relay_bin = real
        self.relay.wait_connected(10)
        t = self.tape()
        self.assertEqual(t["state"], "failing")
        self.assertRegex(t["last_error"], r"read-only|readonly|cannot")
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.sim.publish(FLOW, 2)
        recv_data(c, 2, channel=FLOW)
        wait_until(lambda: self.tape()["not_recorded"]["write_failed"] >= 2, 40, msg="counted")
        subprocess.run(["nsenter", "-t", str(self.relay.proc.p.pid), "-m", "mount", "-o",
                        "remount,bind,rw", d], check=True)
        wait_until(lambda: self.tape()["state"] == "recording", 40, msg="recording once writable")
        self.sim.publish(FLOW, 1)
        recv_data(c, 1, channel=FLOW)
        self.wait_recorded(1)
        self.assertEqual([s for s, in rows(path, "SELECT seq FROM frames")], [3])


if __name__ == "__main__":
    harness.main()
