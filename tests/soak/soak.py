#!/usr/bin/env python3
"""Soak test for uwrelay: lots of frames, upstream cuts at random moments, and a strict check of
what every subscriber saw. Not part of ctest; run it by hand:

    python3 tests/soak/soak.py --frames 20000 --quick     # under a minute
    python3 tests/soak/soak.py --frames 1000000           # a long run

It starts the UW simulator and the relay on 127.0.0.1 (through tests/integration/harness.py;
binaries from UWRELAY_BIN / UWSIM_BIN or build/), opens N subscribers (default 4: two on
/api/stream/ws/flow, two on /api/stream/ws?channels=flow-alerts,option_trades:SPY), publishes
frames in batches with /ctl/publish on both channels, and every few seconds cuts the upstream
(/ctl/cut, modes close and drop alternately).

What must hold, per subscriber and channel, for every frame the relay received:
  * the relay's seq goes up by exactly 1: no loss, no duplicate, no reordering;
  * on one upstream connection the sim's own counter (data.sim_seq) goes up by exactly 1 from 1,
    i.e. the relay forwarded every frame it got on that connection (connections are told apart
    by the $relay `upstream` `connected` notices in the stream).
Frames the relay never received are UW-side losses it cannot help; they are counted apart:
published while the relay was down (the sim had no joined connection to queue them on), or
queued on / in flight over a connection that was then cut.

Exit status: 0 all good; 1 loss, duplicate or reordering among relay-received frames (or
another failure); 2 no loss but a subscriber was closed as too slow (4001), so it saw only a
prefix; 3 the time limit stopped the run early.
"""

import argparse
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import wsclient  # noqa: E402

FLOW = "flow-alerts"
SPY = "option_trades:SPY"
CHANNELS = (FLOW, SPY)
ENV_RE = re.compile(rb'^\{"channel":"((?:[^"\\]|\\.)*)","seq":(\d+),"epoch":"([0-9a-f]{16})"')
SIM_SEQ_RE = re.compile(rb'"sim_seq":(\d+)')


class ChanStats:
    __slots__ = ("first", "last", "delivered", "lost", "dup", "reorder", "missing",
                 "seg", "sim_last", "sim_gaps", "sim_gap_examples", "seg_max")

    def __init__(self):
        self.first = None         # first seq seen
        self.last = 0             # highest seq seen
        self.delivered = 0
        self.lost = 0             # seqs skipped (and not seen later)
        self.dup = 0
        self.reorder = 0
        self.missing = set()      # seqs skipped so far (bounded)
        self.seg = -1             # upstream connection index of the last frame
        self.sim_last = 0         # last sim_seq on that connection
        self.sim_gaps = 0         # frames missing on one upstream connection
        self.sim_gap_examples = []
        self.seg_max = {}         # upstream connection index -> highest sim_seq seen


class Subscriber(threading.Thread):
    """One browser: reads in a tight loop and checks every frame as it comes."""

    def __init__(self, idx, relay, path, channels):
        super().__init__(daemon=True, name="sub%d" % idx)
        self.idx = idx
        self.path = path
        self.channels = channels
        self.client = wsclient.connect(harness.HOST, relay.port, path, timeout=10)
        self.stats = {ch: ChanStats() for ch in channels}
        self.segment = 0          # upstream connections seen (count of `connected` notices)
        self.notices = {"connected": 0, "disconnected": 0, "other": 0}
        self.close_code = None
        self.error = None
        self.epochs = set()
        self.frames = 0
        self._stop_evt = threading.Event()
        # take the `subscribed` messages here, before any data is published
        subs = set()
        while subs != set(channels):
            env = json.loads(self.client.recv_text(10))
            d = env.get("data") or {}
            if env.get("channel") == "$relay" and d.get("type") == "subscribed":
                if d.get("seq", 0) != 0:
                    raise AssertionError("channel %s already at seq %r" % (d["channel"], d["seq"]))
                subs.add(d["channel"])
            elif env.get("channel") == "$relay" and d.get("type") == "upstream":
                continue
            else:
                raise AssertionError("unexpected message before subscribed: %r" % env)

    def stop(self):
        self._stop_evt.set()

    def run(self):
        c = self.client
        try:
            while not self._stop_evt.is_set():
                try:
                    op, raw = c.recv_message(0.2)
                except socket.timeout:
                    continue
                m = ENV_RE.match(raw)
                if m is None:
                    self.on_relay_message(raw)
                    continue
                ch = m.group(1).decode()
                st = self.stats.get(ch)
                if st is None:
                    raise AssertionError("frame from a channel not subscribed: %r" % raw[:100])
                self.epochs.add(m.group(3))
                seq = int(m.group(2))
                ms = SIM_SEQ_RE.search(raw, m.end())
                sim_seq = int(ms.group(1)) if ms else None
                self.on_frame(st, seq, sim_seq)
        except wsclient.WSClosed as e:
            self.close_code = "EOF" if e.eof else e.code
        except BaseException as e:  # reported in the summary
            self.error = repr(e)

    def on_relay_message(self, raw):
        env = json.loads(raw)
        d = env.get("data") or {}
        if env.get("channel") != "$relay":
            raise AssertionError("unparsed data envelope: %r" % raw[:200])
        if d.get("type") == "upstream":
            state = d.get("state")
            if state == "connected":
                self.segment += 1
                self.notices["connected"] += 1
            elif state == "disconnected":
                self.notices["disconnected"] += 1
            return
        self.notices["other"] += 1
        raise AssertionError("unexpected $relay message: %r" % raw[:200])

    def on_frame(self, st, seq, sim_seq):
        self.frames += 1
        st.delivered += 1
        if st.first is None:
            st.first = seq
            if seq != 1:
                st.lost += seq - 1
        elif seq == st.last + 1:
            pass
        elif seq > st.last + 1:
            st.lost += seq - st.last - 1
            if len(st.missing) < 100000:
                st.missing.update(range(st.last + 1, seq))
        else:
            if seq in st.missing:
                st.missing.discard(seq)
                st.lost -= 1
                st.reorder += 1
            else:
                st.dup += 1
            return
        st.last = seq
        # the sim's counter, per upstream connection
        if sim_seq is None:
            st.sim_gaps += 1
            return
        if self.segment != st.seg:
            st.seg = self.segment
            st.sim_last = 0
        if sim_seq != st.sim_last + 1:
            st.sim_gaps += abs(sim_seq - st.sim_last - 1) or 1
            if len(st.sim_gap_examples) < 5:
                st.sim_gap_examples.append((self.segment, st.sim_last, sim_seq))
        st.sim_last = sim_seq
        if sim_seq > st.seg_max.get(self.segment, 0):
            st.seg_max[self.segment] = sim_seq


def relay_status(relay):
    return relay.status()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200000,
                    help="frames to publish in total, over both channels (default 200000)")
    ap.add_argument("--quick", action="store_true",
                    help="short run: paced, frequent cuts, 60 s limit")
    ap.add_argument("--subscribers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=None,
                    help="frames per /ctl/publish call (default 1000, quick 250)")
    ap.add_argument("--size", type=int, default=0, help="payload size for the sim (0: natural)")
    ap.add_argument("--pace", type=float, default=None,
                    help="publish at most this many frames/s, like a feed that does not wait for anyone (default 8000, quick 1500; 0: as fast as the relay takes them)")
    ap.add_argument("--cut-min", type=float, default=None, help="seconds between cuts, low end")
    ap.add_argument("--cut-max", type=float, default=None, help="seconds between cuts, high end")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds for the whole run (default 1200, quick 60)")
    ap.add_argument("--max-queue-bytes", type=int, default=4 << 20,
                    help="relay clients.max_queue_bytes (default 4 MiB)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    a = ap.parse_args()
    if a.batch is None:
        a.batch = 250 if a.quick else 1000
    if a.pace is None:
        a.pace = 1500.0 if a.quick else 8000.0
    if a.cut_min is None:
        a.cut_min = 0.5 if a.quick else 2.0
    if a.cut_max is None:
        a.cut_max = 1.5 if a.quick else 5.0
    if a.time_limit is None:
        a.time_limit = 60.0 if a.quick else 1200.0
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)

    for path, var in ((harness.relay_bin(), "UWRELAY_BIN"), (harness.sim_bin(), "UWSIM_BIN")):
        if not os.access(path, os.X_OK):
            sys.exit("%s not executable (set %s)" % (path, var))
    tmp = tempfile.mkdtemp(prefix="uwrelay-soak-")
    sim = relay = None
    subs = []
    rc = 1
    t_start = time.monotonic()
    try:
        sim = harness.Sim(tmp)
        cfg = harness.relay_config(
            harness.free_port(), sim.url(),
            upstream={"reconnect": {"initial_delay": 0.05, "max_delay": 0.5, "jitter": 0.1}},
            clients={"max_queue_bytes": a.max_queue_bytes},
            history={"size": 1000})
        relay = harness.Relay(tmp, cfg)
        relay.wait_connected(10)
        pid = relay.proc.p.pid
        for i in range(a.subscribers):
            if i % 4 < 2:
                subs.append(Subscriber(i, relay, "/api/stream/ws/flow", (FLOW,)))
            else:
                subs.append(Subscriber(i, relay, "/api/stream/ws?channels=%s,%s" % CHANNELS,
                                       CHANNELS))
        want = {ch: 1 for ch in CHANNELS if any(ch in s.channels for s in subs)}
        harness.wait_until(lambda: {k: v for k, v in sim.stats()["joined"].items() if v} == want,
                           10, msg="channels joined upstream")
        for s in subs:
            s.start()
        st0 = sim.stats()
        rss0 = harness.proc_rss_kb(pid)

        # the cutter: every few seconds, close and drop alternately
        cuts = {"close": 0, "drop": 0, "noop": 0}
        stop_cutter = threading.Event()
        cutter_err = []

        def cutter():
            mode = "close"
            try:
                while not stop_cutter.wait(rng.uniform(a.cut_min, a.cut_max)):
                    n = sim.ctl("cut", mode=mode).get("cut", 0)
                    if n:
                        cuts[mode] += 1
                        mode = "drop" if mode == "close" else "close"
                    else:
                        cuts["noop"] += 1
            except BaseException as e:
                cutter_err.append(repr(e))
        cut_thread = threading.Thread(target=cutter, daemon=True)
        cut_thread.start()

        requested = {ch: 0 for ch in want}
        queued = {ch: 0 for ch in want}
        down_batches = 0
        stall = None
        deadline = t_start + a.time_limit
        chans = list(want)
        turn = 0
        t_pub0 = time.monotonic()
        last_report = t_pub0
        timed_out = False

        def delivered_min(ch):
            return min(s.stats[ch].delivered for s in subs
                       if ch in s.stats and s.close_code is None and s.error is None) \
                if any(ch in s.stats and s.close_code is None and s.error is None for s in subs) \
                else None

        # Flow control, not accounting: `expect` is the relay seq each channel should reach once
        # what was queued on the current upstream connection arrives; after a reconnect it
        # restarts from the relay's seq (what was in flight on the old connection is gone).
        # Publishing waits while the relay is more than `window` frames short of it, or a
        # subscriber more than `window` frames behind the relay.
        window = 2 * a.batch
        expect = {ch: 0 for ch in chans}
        known = {"conn": None}

        def ready():
            s = relay_status(relay)
            conn = (s["uw_connection"]["connects"], s["uw_connection"]["disconnects"])
            seqs = {c: s["channels"].get(c, {}).get("seq", 0) for c in chans}
            if conn != known["conn"]:
                known["conn"] = conn
                for c in chans:
                    expect[c] = seqs[c]
            for c in chans:
                if expect[c] - seqs[c] > window:
                    return None
                dm = delivered_min(c)
                if dm is not None and dm < seqs[c] - window:
                    return None
            return True

        while sum(requested.values()) < a.frames:
            if time.monotonic() > deadline:
                timed_out = True
                break
            try:
                harness.wait_until(ready, 30, 0.002, msg="relay and subscribers within the window")
            except harness.WaitTimeout as e:
                stall = str(e)
                break
            ch = chans[turn % len(chans)]
            turn += 1
            n = min(a.batch, a.frames - sum(requested.values()))
            ans = sim.publish(ch, n, size=a.size or None)
            requested[ch] += n
            queued[ch] += n * ans["connections"]
            expect[ch] += n * ans["connections"]
            if not ans["connections"]:
                down_batches += 1
            if a.pace:
                ahead = sum(requested.values()) / a.pace - (time.monotonic() - t_pub0)
                if ahead > 0:
                    time.sleep(ahead)
            now = time.monotonic()
            if now - last_report > 10:
                last_report = now
                done = sum(requested.values())
                sys.stderr.write("  %d/%d frames published, %.0f frames/s, cuts %d+%d, RSS %d kB\n"
                                 % (done, a.frames, done / (now - t_pub0), cuts["close"],
                                    cuts["drop"], harness.proc_rss_kb(pid)))
        stop_cutter.set()
        cut_thread.join(10)
        t_pub = time.monotonic() - t_pub0

        # final settle: everything the relay received is delivered to every live subscriber
        final = relay_status(relay)
        window = 0
        try:
            harness.wait_until(ready, 30, 0.01, msg="final delivery")
        except harness.WaitTimeout as e:
            stall = stall or str(e)
        final = relay_status(relay)
        st1 = sim.stats()
        rss1 = harness.proc_rss_kb(pid)
        for s in subs:
            s.stop()
        for s in subs:
            s.join(5)
        elapsed = time.monotonic() - t_start

        # ------------------------------------------------------------ the summary
        relay_got = {ch: final["channels"].get(ch, {}).get("seq", 0) for ch in chans}
        sim_sent = st1["frames_sent"] - st0["frames_sent"]
        conn = final["uw_connection"]
        out = []
        w = out.append
        w("")
        w("uwrelay soak: seed %d, %d subscribers, batch %d, size %s, cuts every %.1f-%.1f s%s"
          % (seed, len(subs), a.batch, a.size or "natural", a.cut_min, a.cut_max,
             ", paced %.0f/s" % a.pace if a.pace else ""))
        w("")
        w("%-44s %12s %12s %12s" % ("", FLOW, SPY, "total"))

        def row(label, d):
            vals = [d.get(ch) for ch in (FLOW, SPY)]
            tot = sum(v for v in vals if v is not None)
            w("%-44s %12s %12s %12d" % (label, *[("%d" % v if v is not None else "-") for v in vals],
                                        tot))
        row("frames published (asked of the sim)", requested)
        row("  queued on a live relay connection", queued)
        w("%-44s %12s %12s %12d" % ("frames sent by the sim (written)", "", "", sim_sent))
        row("frames received by the relay (seq)", relay_got)
        row("UW-side loss: published while relay down", {ch: requested[ch] - queued[ch] for ch in chans})
        row("UW-side loss: queued/in flight at a cut", {ch: queued[ch] - relay_got[ch] for ch in chans})
        w("%-44s %12s %12s %12d" % ("  of which written by the sim, not received", "", "",
                                    sim_sent - sum(relay_got.values())))
        w("")
        w("%-6s %-34s %10s %10s %6s %6s %8s %9s %s"
          % ("sub", "endpoint", "channel", "delivered", "lost", "dup", "reorder", "sim-gaps",
             "closed/error"))
        failures = []
        slow = []
        for s in subs:
            for ch in s.channels:
                cs = s.stats[ch]
                behind = relay_got[ch] - cs.last if s.close_code is None and s.error is None else 0
                lost = cs.lost + max(0, behind)
                w("%-6s %-34s %10s %10d %6d %6d %8d %9d %s"
                  % (s.name, s.path[:34], "flow" if ch == FLOW else "SPY", cs.delivered, lost,
                     cs.dup, cs.reorder, cs.sim_gaps,
                     s.error or (s.close_code if s.close_code is not None else "")))
                if lost or cs.dup or cs.reorder:
                    failures.append("%s %s: lost %d, dup %d, reorder %d (missing e.g. %s)"
                                    % (s.name, ch, lost, cs.dup, cs.reorder,
                                       sorted(cs.missing)[:5]))
                if cs.sim_gaps:
                    failures.append("%s %s: %d frames missing on one upstream connection "
                                    "(segment, last sim_seq, next): %s"
                                    % (s.name, ch, cs.sim_gaps, cs.sim_gap_examples))
                if s.close_code is None and s.error is None and cs.delivered != relay_got[ch]:
                    failures.append("%s %s: delivered %d, relay received %d"
                                    % (s.name, ch, cs.delivered, relay_got[ch]))
                if s.close_code is None and s.error is None and \
                        sum(cs.seg_max.values()) != relay_got[ch]:
                    failures.append("%s %s: per-connection sim_seq totals %d != relay seq %d"
                                    % (s.name, ch, sum(cs.seg_max.values()), relay_got[ch]))
            if s.close_code == 4001:
                slow.append(s.name)
            elif s.close_code is not None or s.error:
                failures.append("%s: closed/error: %s" % (s.name, s.error or s.close_code))
            if len(s.epochs) > 1:
                failures.append("%s: several epochs %r" % (s.name, s.epochs))
        w("")
        w("cuts done: %d close + %d drop (%d while already down); relay connects %d, "
          "disconnects %d; subscribers saw %s upstream-connected notices"
          % (cuts["close"], cuts["drop"], cuts["noop"], conn["connects"], conn["disconnects"],
             sorted({s.notices["connected"] for s in subs})))
        w("publish batches while the relay was down: %d" % down_batches)
        w("relay: malformed %d, oversize %d, unrouted %d, slow_consumers_closed %d; RSS %d kB -> "
          "%d kB" % (conn["malformed_frames"], conn["oversize_frames"], conn["unrouted_frames"],
                     final["slow_consumers_closed"], rss0, rss1))
        total_delivered = sum(s.frames for s in subs)
        w("elapsed %.1f s (publishing %.1f s, %.0f frames/s published, %.0f messages/s delivered)"
          % (elapsed, t_pub, sum(requested.values()) / max(t_pub, 1e-9),
             total_delivered / max(t_pub, 1e-9)))
        if cutter_err:
            failures.append("cutter: %s" % cutter_err)
        if stall:
            failures.append("stalled: %s" % stall)
        if cuts["close"] + cuts["drop"] == 0:
            failures.append("no cut happened (run too short?)")
        if not relay.alive():
            failures.append("relay died")
        m = harness.SANITIZER_RE.search(relay.log())
        if m:
            failures.append("sanitizer report in the relay log: %s" % relay.log()[m.start():][:300])
        if slow:
            w("TOO SLOW (closed 4001, saw a gapless prefix only): %s" % ", ".join(slow))
        if timed_out:
            w("TIME LIMIT: stopped after %d of %d frames" % (sum(requested.values()), a.frames))
        w("")
        if failures:
            w("FAIL")
            for f in failures:
                w("  " + f)
            rc = 1
        elif slow:
            w("NO LOSS, but some subscribers were too slow")
            rc = 2
        elif timed_out:
            rc = 3
        else:
            w("OK: no loss, duplicate or reordering among %d relay-received frames"
              % sum(relay_got.values()))
            rc = 0
        print("\n".join(out))
        sys.stdout.flush()
    finally:
        for s in subs:
            s.stop()
            try:
                s.client.abort()
            except Exception:
                pass
        for p in (relay, sim):
            if p is not None:
                r, killed = p.stop()
                if p is relay and (killed or r != 0):
                    print("relay exit: rc=%s killed=%s" % (r, killed))
                    rc = rc or 1
        if rc or a.keep:
            print("files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
