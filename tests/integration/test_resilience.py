#!/usr/bin/env python3
"""Resilience: unacked joins, 401 and other refused handshakes, rejoining after an outage,
a stuck subscriber under 20+ MB of traffic, SIGTERM with stuck clients, SIGHUP with a broken
file while data flows, and the epoch after a restart."""

import fcntl
import json
import os
import re
import signal
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"
DARK = "off_lit_trades"
SEQ_RE = re.compile(rb'^\{"channel":"((?:[^"\\]|\\.)*)","seq":(\d+),')
SIM_SEQ_RE = re.compile(rb'"sim_seq":(\d+)')


def sanitized_binary(path):
    """True if the executable was built with AddressSanitizer."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def joined_now(sim):
    return {k: v for k, v in sim.stats()["joined"].items() if v}


class SeqReader(threading.Thread):
    """Reads one client in a tight loop until `count` data frames arrived, it is closed, or
    stop() is called. Checks on the fly that each channel's seq goes up by exactly 1.

    After join(): frames (per channel), first/last seq, errors (list of strings), close_code,
    eof, notices ($relay messages)."""

    def __init__(self, client, count=None, timeout=60.0, name="reader"):
        super().__init__(daemon=True, name=name)
        self.client = client
        self.count = count
        self.timeout = timeout
        self.frames = 0
        self.per_channel = {}     # channel -> [first seq, last seq, n]
        self.errors = []
        self.notices = []
        self.close_code = None
        self.eof = False
        self.exc = None
        self.epochs = set()
        self._stop_evt = threading.Event()

    def stop(self):
        self._stop_evt.set()

    def run(self):
        deadline = time.monotonic() + self.timeout
        try:
            while not self._stop_evt.is_set() and (self.count is None or self.frames < self.count):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.errors.append("timeout after %d frames" % self.frames)
                    return
                try:
                    op, raw = self.client.recv_message(min(remaining, 0.2))
                except socket.timeout:
                    continue
                m = SEQ_RE.match(raw)
                if not m:
                    env = json.loads(raw)
                    if env.get("channel") != "$relay":
                        self.errors.append("unparsed envelope %r" % raw[:120])
                    self.notices.append(env)
                    continue
                ch, seq = m.group(1).decode(), int(m.group(2))
                st = self.per_channel.get(ch)
                if st is None:
                    self.per_channel[ch] = [seq, seq, 1]
                else:
                    if seq != st[1] + 1 and len(self.errors) < 20:
                        self.errors.append("%s: seq %d after %d" % (ch, seq, st[1]))
                    st[1] = seq
                    st[2] += 1
                self.frames += 1
        except wsclient.WSClosed as e:
            self.close_code = e.code
            self.eof = e.eof
        except OSError as e:
            self.exc = e
        except Exception as e:  # reported by the test
            self.exc = e
            self.errors.append(repr(e))

    def seqs(self, ch):
        st = self.per_channel.get(ch)
        return (st[0], st[1], st[2]) if st else (None, None, 0)


class TestUpstreamFaults(harness.IntegrationTest):

    def test_unacked_join_reported(self):
        sim, relay = self.sim_and_relay(upstream={"ack_timeout": 0.5})
        # acks on: the join is acked and unacked_joins stays 0 well past ack_timeout
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: relay.status()["channels"][FLOW]["ack"] == "ok", 5, msg="flow acked")
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            conn = relay.conn()
            self.assertEqual(conn["unacked_joins"], 0, conn)
            self.assertIsNone(conn["last_error"], conn)
            time.sleep(0.05)
        self.assertNotRegex(relay.log(), r"(?i)no ack")
        # acks off: a new join is reported within ~2 s, in status and in the log
        sim.ctl("noack", on=1)
        t0 = time.monotonic()
        g = self.client(relay, "/api/stream/ws?channels=news")
        expect_subscribed(g, "news")
        conn = wait_until(lambda: (lambda c: c if c["unacked_joins"] >= 1 else None)(relay.conn()),
                          2.5, msg="unacked_joins >= 1")
        took = time.monotonic() - t0
        sys.stderr.write("\nunacked join reported after %.2fs (ack_timeout 0.5)\n" % took)
        self.assertLessEqual(took, 2.0)
        self.assertGreaterEqual(took, 0.4, "reported before ack_timeout")
        self.assertEqual(conn["unacked_joins"], 1)
        self.assertRegex(conn["last_error"] or "", r"(?i)no ack", conn)
        self.assertIn("news", conn["last_error"])
        relay.wait_log(r"\bwarn\b.*no ack", 2)
        self.assertEqual(relay.status()["status"], "connected")
        # the unacked channel still delivers (the sim sends data at once with noack)
        sim.publish("news", 2)
        self.assertEqual([e["seq"] for e, _ in recv_data(g, 2, channel="news")], [1, 2])

    def test_401_logged_once_slow_retries(self):
        initial, maxd, jitter = 0.05, 0.3, 0.1
        sim = self.start_sim()
        sim.ctl("refuse", count=-1, status=401)
        cfg = harness.relay_config(harness.free_port(), sim.url(),
                                   upstream={"reconnect": {"initial_delay": initial,
                                                           "max_delay": maxd, "jitter": jitter}})
        relay = self.start_relay(cfg)
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        # time the refused handshakes as the sim sees them
        times = []
        last = 0
        deadline = time.monotonic() + 10
        while len(times) < 6 and time.monotonic() < deadline:
            n = sim.stats()["handshakes_refused"]
            now = time.monotonic()
            times += [now] * (n - last)
            last = n
            time.sleep(0.005)
        self.assertGreaterEqual(len(times), 6, "the relay stopped retrying after a 401")
        s = relay.status()
        self.assertEqual(s["status"], "unauthorized", s)
        self.assertTrue(s["reason"], s)
        self.assertRegex(s["uw_connection"]["last_error"], r"(?i)401|unauthori")
        self.assertFalse(s["uw_connection"]["connected"])
        # while unauthorized, retries come at the slow end of the backoff (max_delay)
        gaps = [b - a for a, b in zip(times, times[1:])]
        sys.stderr.write("\ngaps between 401s: %s (max_delay %.2f)\n"
                         % (" ".join("%.3f" % g for g in gaps), maxd))
        for g in gaps[1:]:
            self.assertGreaterEqual(g, maxd * (1 - jitter) - 0.05,
                                    "retried fast while unauthorized: %r" % gaps)
            self.assertLessEqual(g, maxd * (1 + jitter) + 0.25, gaps)
        # next_retry_in: a number while waiting to retry
        s = wait_until(lambda: (lambda s: s if isinstance(s["uw_connection"]["next_retry_in"],
                                                         (int, float)) else None)(relay.status()),
                       3, 0.01, msg="next_retry_in is a number")
        self.assertEqual(s["status"], "unauthorized")
        self.assertGreaterEqual(s["uw_connection"]["next_retry_in"], 0)
        self.assertLessEqual(s["uw_connection"]["next_retry_in"], maxd * (1 + jitter) + 0.01)
        # the 401 is logged once, not once per attempt: neither the relay's own line nor any
        # other line about it (libwebsockets' warnings go to the same log)
        attempts = sim.stats()["handshakes_refused"]
        log = relay.log().splitlines()
        own = [l for l in log if re.search(r"(?i)refused the token", l)]
        about = [l for l in log if re.search(r"(?i)\b401\b|unauthori", l)]
        with self.subTest("relay's own 401 line"):
            self.assertEqual(len(own), 1, "logged %d times after %d attempts:\n%s"
                             % (len(own), attempts, "\n".join(own[:10])))
        with self.subTest("every log line about the 401"):
            self.assertEqual(len(about), 1, "the 401 shows up in %d log lines after %d attempts:\n%s"
                             % (len(about), attempts, "\n".join(about[:10])))
        # the token is fixed: it connects and rejoins
        sim.ctl("refuse", count=0)
        s = relay.wait_connected(3)
        self.assertIsNone(s["reason"])
        self.assertIsNone(s["uw_connection"]["next_retry_in"])
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5, msg="flow-alerts joined")
        sim.publish(FLOW, 1)
        self.assertEqual(recv_data(c, 1, channel=FLOW)[0][0]["seq"], 1)

    def check_refused(self, status, cause_re):
        sim, relay = self.sim_and_relay()
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5)
        refused0 = sim.stats()["handshakes_refused"]
        sim.ctl("refuse", count=-1, status=status)
        sim.ctl("cut")
        wait_until(lambda: sim.stats()["handshakes_refused"] >= refused0 + 2, 10,
                   msg="two refused handshakes")
        s = relay.status()
        self.assertEqual(s["status"], "disconnected", s)
        err = s["uw_connection"]["last_error"]
        self.assertTrue(err, s)
        self.assertTrue(s["reason"], s)
        self.assertRegex(err, cause_re, "last_error does not say what failed")
        self.assertNotRegex(err, r"(?i)unauthori|401")
        s = wait_until(lambda: (lambda s: s if isinstance(s["uw_connection"]["next_retry_in"],
                                                         (int, float)) else None)(relay.status()),
                       3, 0.01, msg="next_retry_in is a number")
        self.assertEqual(s["status"], "disconnected")
        self.assertGreaterEqual(s["uw_connection"]["next_retry_in"], 0)
        self.assertLessEqual(s["uw_connection"]["next_retry_in"], 1.2)
        sys.stderr.write("\nrefused with %d: last_error=%r\n" % (status, err))
        sim.ctl("refuse", count=0)
        relay.wait_connected(5)
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5)
        sim.publish(FLOW, 1)
        self.assertEqual(recv_data(c, 1, channel=FLOW)[0][0]["seq"], 1)

    def test_refused_503(self):
        self.check_refused(503, r"\b503\b")

    def test_refused_tcp_drop(self):
        # the sim closes the TCP connection without any answer
        self.check_refused(0, r"(?i)clos|reset|eof|hung up|drop|no (answer|response)|read failed")

    def test_reset_keeps_what_was_already_received(self):
        """UW resets the connection (RST) while frames sit unread in the relay's receive buffer:
        the relay still forwards every complete frame that had reached it, in order. (Frames still
        in UW's send buffer are lost with the RST: UW-side, nothing the relay can do.)"""
        sim, relay = self.sim_and_relay(clients={"max_queue_bytes": 64 << 20})
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5)

        def upstream_socket():
            """(tx_queue, rx_queue) of the relay's ESTABLISHED socket to the sim."""
            found = []
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    p = line.split()
                    if p[3] == "01" and int(p[2].split(":")[1], 16) == sim.port:
                        tx, rx = p[4].split(":")
                        found.append((int(tx, 16), int(rx, 16)))
            return found[0] if len(found) == 1 else None
        relay.proc.signal(signal.SIGSTOP)
        self.addCleanup(relay.proc.signal, signal.SIGCONT)
        sim.publish(FLOW, 2000)
        # wait until the relay's receive buffer has filled and stopped growing
        last = [None]

        def steady():
            q = upstream_socket()
            ok = q is not None and q[1] > 16384 and q == last[0]
            last[0] = q
            return q if ok else None
        _, rx_before = wait_until(steady, 10, 0.2, msg="relay's receive buffer full")
        sent = sim.stats()["frames_sent"]
        sim.ctl("cut", mode="drop")
        relay.proc.signal(signal.SIGCONT)
        wait_until(lambda: relay.conn()["disconnects"] >= 1, 5, msg="relay saw the reset")
        s = relay.status()
        got, bytes_in = s["channels"][FLOW]["seq"], s["uw_connection"]["bytes_in"]
        sys.stderr.write("\nsim wrote %d frames; %d bytes were in the relay's receive buffer at the "
                         "RST; relay then read %d bytes, %d frames\n" % (sent, rx_before, bytes_in, got))
        # bytes_in counts payloads (no WebSocket headers); at most one partial frame may be cut off
        self.assertGreaterEqual(bytes_in, rx_before - 4 * got - 4096,
                                "the relay dropped data it had already received")
        frames = recv_data(c, got, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in frames], list(range(1, got + 1)))
        self.assertEqual([e["data"]["sim_seq"] for e, _ in frames], list(range(1, got + 1)))
        self.assertLess(got, sent)

    def test_rejoin_only_channels_still_wanted(self):
        sim, relay = self.sim_and_relay()
        a = self.client(relay, "/api/stream/ws?channels=flow-alerts")
        expect_subscribed(a, FLOW)
        b = self.client(relay, "/api/stream/ws/dark-pool")
        expect_subscribed(b, DARK)
        wait_until(lambda: joined_now(sim) == {FLOW: 1, DARK: 1}, 5, msg="both joined")
        sim.publish(FLOW, 2)
        recv_data(a, 2, channel=FLOW)
        # an outage that lasts: every handshake refused
        sim.ctl("refuse", count=-1, status=503)
        sim.ctl("cut", mode="drop")
        wait_until(lambda: relay.status()["status"] == "disconnected", 5)
        st = sim.stats()
        n_joins0, n_leaves0, refused0 = len(st["join_log"]), len(st["leave_log"]), \
            st["handshakes_refused"]
        wait_until(lambda: sim.stats()["handshakes_refused"] >= refused0 + 1, 5,
                   msg="a refused retry")
        # during the outage the dark-pool subscriber leaves
        b.close()
        wait_until(lambda: DARK not in relay.status()["client_connections"]
                   or relay.status()["client_connections"][DARK] == 0, 5,
                   msg="relay saw the dark-pool subscriber go")
        r1 = sim.stats()["handshakes_refused"]
        wait_until(lambda: sim.stats()["handshakes_refused"] >= r1 + 1, 5,
                   msg="still down after the departure")
        sim.ctl("refuse", count=0)
        relay.wait_connected(5)
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5, msg="flow-alerts rejoined")
        # fence: one more join on the new connection; after it, every earlier join has arrived
        a.send_json({"action": "subscribe", "channel": "news"})
        expect_subscribed(a, "news")
        wait_until(lambda: joined_now(sim).get("news") == 1, 5, msg="fence join of news")
        st = sim.stats()
        new_joins = [harness.log_entry_channel(e) for e in st["join_log"][n_joins0:]]
        self.assertEqual(new_joins, [FLOW, "news"], "joins after the outage")
        self.assertEqual(st["leave_log"][n_leaves0:], [], "leaves after the outage")
        self.assertEqual(joined_now(sim), {FLOW: 1, "news": 1})
        s = relay.status()
        self.assertEqual(sorted(s["uw_connection"]["subscribed_channels"]), [FLOW, "news"])
        harness.wait_notice(a, "disconnected", 5)
        harness.wait_notice(a, "connected", 5)
        sim.publish(FLOW, 1)
        self.assertEqual(recv_data(a, 1, channel=FLOW)[0][0]["seq"], 3)


class TestSubscribers(harness.IntegrationTest):

    def test_stuck_subscriber_20mb(self):
        """One subscriber never reads; 20,000 frames of ~1 KB go through; it is closed (4001), the
        two readers get everything in order, and the relay's memory stays flat.

        The feed is published in chunks of 100 frames (~120 KB, under max_queue_bytes), each once
        the readers have the previous one: a reader that keeps up with the feed must never be
        taken for a slow one, whatever the load on the machine; the stuck one falls behind by
        the whole 20 MB."""
        n, chunk = 20000, 100
        sim, relay = self.sim_and_relay(clients={"max_queue_bytes": 262144})
        pid = relay.proc.p.pid
        # connects, takes its `subscribed`, then never reads again; tiny receive window
        stuck = harness.ws_connect_ex(HOST, relay.port, "/api/stream/ws/flow", rcvbuf=4096)
        self._clients.append(stuck)
        expect_subscribed(stuck, FLOW)
        readers = []
        for i in range(2):
            c = self.client(relay, "/api/stream/ws/flow")
            expect_subscribed(c, FLOW)
            readers.append(SeqReader(c, n, timeout=180, name="reader%d" % i))
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5)
        rss0 = harness.proc_rss_kb(pid)
        peak = [rss0]
        done = threading.Event()
        stuck_result = {}

        def watch():
            """Samples the relay's RSS; once the relay says it closed a slow consumer, opens the
            stuck client's window and reads what reached it, up to the close."""
            closed_seen = False
            while not done.wait(0.02):
                try:
                    peak[0] = max(peak[0], harness.proc_rss_kb(pid))
                    if not closed_seen and relay.status()["slow_consumers_closed"] >= 1:
                        closed_seen = True
                        stuck_result["t"] = time.monotonic()
                        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                        seqs = []
                        try:
                            while True:
                                op, payload = stuck.recv_message(10)
                                m = SEQ_RE.match(payload)
                                if m:
                                    seqs.append(int(m.group(2)))
                        except wsclient.WSClosed as e:
                            stuck_result["code"] = "EOF" if e.eof else e.code
                        except OSError as e:
                            stuck_result["code"] = repr(e)
                        stuck_result["seqs"] = seqs
                except (OSError, AssertionError, ValueError) as e:
                    stuck_result.setdefault("watch_error", repr(e))
                    return
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for r in readers:
            r.start()
        t0 = time.monotonic()
        published = 0
        while published < n:
            sim.publish(FLOW, chunk, size=1024)
            published += chunk
            wait_until(lambda: all(r.frames >= published or not r.is_alive() for r in readers),
                       30, 0.002, msg="readers have %d frames" % published)
            if not all(r.is_alive() or r.frames >= n for r in readers):
                break
        for r in readers:
            r.join(30)
        took = time.monotonic() - t0
        wait_until(lambda: "code" in stuck_result or "watch_error" in stuck_result, 15,
                   msg="the stuck subscriber closed")
        done.set()
        watcher.join(5)
        bytes_in = relay.conn()["bytes_in"]
        seqs = stuck_result.get("seqs", [])
        for r in readers:
            self.assertFalse(r.is_alive())
            self.assertEqual(r.errors, [], r.name)
            self.assertIsNone(r.exc, r.name)
            self.assertEqual(r.seqs(FLOW), (1, n, n), "%s (close code %r, eof %r)"
                             % (r.name, r.close_code, r.eof))
        self.assertNotIn("watch_error", stuck_result)
        # closed with the documented code (README: clients.max_queue_bytes), not just cut:
        # its window is open again by then, so the close frame can be delivered
        self.assertEqual(stuck_result["code"], 4001,
                      "stuck client: %r after %d frames" % (stuck_result["code"], len(seqs)))
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertLess(len(seqs), n)
        self.assertRegex(relay.log(), r"(?i)warn.*closing a subscriber whose send queue passed 262144")
        s = relay.status()
        self.assertEqual(s["slow_consumers_closed"], 1)
        self.assertEqual(s["total_clients"], 2)
        self.assertEqual(s["channels"][FLOW]["seq"], n)
        rss1 = harness.proc_rss_kb(pid)
        sys.stderr.write("\n%d frames, %.1f MB from upstream in %.1fs; relay RSS before %d kB, "
                         "after %d kB (%+d kB), peak seen %d kB; stuck client got %d frames, "
                         "then %s\n" % (n, bytes_in / 1e6, took, rss0, rss1, rss1 - rss0, peak[0],
                                        len(seqs), stuck_result["code"]))
        self.assertGreater(bytes_in, 19e6)
        if sanitized_binary(harness.relay_bin()):
            # ASan's quarantine keeps freed memory resident (up to 256 MB): RSS says nothing
            sys.stderr.write("(sanitizer build: RSS bound not checked)\n")
            return
        self.assertLess(rss1 - rss0, 30 * 1024, "relay RSS grew by %d kB" % (rss1 - rss0))
        self.assertLess(peak[0] - rss0, 30 * 1024, "relay RSS peaked %d kB above the start"
                        % (peak[0] - rss0))

    def test_sigterm_with_stuck_client(self):
        sim, relay = self.sim_and_relay(clients={"max_queue_bytes": 64 << 20})
        stuck = harness.ws_connect_ex(HOST, relay.port, "/api/stream/ws/flow", rcvbuf=4096)
        self._clients.append(stuck)
        expect_subscribed(stuck, FLOW)
        readers = [self.client(relay, "/api/stream/ws/flow") for _ in range(2)]
        for c in readers:
            expect_subscribed(c, FLOW)
        wait_until(lambda: joined_now(sim) == {FLOW: 1}, 5)
        n = 3000
        rs = [SeqReader(c, n, timeout=60) for c in readers]
        for r in rs:
            r.start()
        sim.publish(FLOW, n, size=2000)     # ~6 MB
        for r in rs:
            r.join(70)
            self.assertEqual(r.errors, [])
            self.assertEqual(r.seqs(FLOW), (1, n, n))
        # the stuck one is still there, its receive buffer full, the rest queued in the relay
        s = relay.status()
        self.assertEqual((s["total_clients"], s["slow_consumers_closed"]), (3, 0), s)
        inq = struct.unpack("i", fcntl.ioctl(stuck.sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        self.assertGreater(inq, 0, "the stuck client's receive buffer is empty")
        exited = {}

        def waiter():
            relay.proc.p.wait(10)
            exited["t"] = time.monotonic()
        t0 = time.monotonic()
        relay.proc.signal(signal.SIGTERM)
        w = threading.Thread(target=waiter, daemon=True)
        w.start()
        codes = [harness.read_until_closed(c, 5)[0] for c in readers]
        w.join(10)
        self.assertIn("t", exited, "uwrelay still running 10 s after SIGTERM")
        took = exited["t"] - t0
        sys.stderr.write("\nSIGTERM to exit with a stuck client: %.3fs (stuck client had %d bytes "
                         "unread)\n" % (took, inq))
        self.assertEqual(codes, [1001, 1001])
        self.assertEqual(relay.proc.p.returncode, 0)
        self.assertLess(took, 2.5)

    def test_sighup_while_data_flows(self):
        """Complements test_reload.py: the reject message names FILE:LINE, and frames keep
        flowing without a gap on the untouched endpoints through both reloads."""
        sim, relay = self.sim_and_relay()
        flow = self.client(relay, "/api/stream/ws/flow")
        dark = self.client(relay, "/api/stream/ws/dark-pool")
        expect_subscribed(flow, FLOW)
        expect_subscribed(dark, DARK)
        wait_until(lambda: joined_now(sim) == {FLOW: 1, DARK: 1}, 5)
        rf, rd = SeqReader(flow, None, 60, "flow"), SeqReader(dark, None, 60, "dark")
        rf.start()
        rd.start()
        self.addCleanup(rf.stop)
        self.addCleanup(rd.stop)
        sim.ctl("rate", channel=FLOW, rate=200)
        sim.ctl("rate", channel=DARK, rate=200)
        wait_until(lambda: rf.frames >= 50 and rd.frames >= 50, 5, msg="data flowing")

        # 1. a file with a syntax error on line 3: rejected, named, nothing interrupted
        good = harness.to_yaml(relay.config) + "\n"
        lines = good.split("\n")
        self.assertEqual(lines[0], "listen:")
        self.assertTrue(lines[2].startswith("  port:"), lines[:3])
        lines[2] = " " + lines[2].lstrip()          # under-indented: a YAML syntax error
        rx = re.compile(r"reload rejected.*%s:(\d+)" % re.escape(relay.config_path), re.I)
        relay.reload("\n".join(lines))
        m = wait_until(lambda: rx.search(relay.log()), 5, msg="reload rejected with FILE:LINE")
        self.assertEqual(m.group(1), "3", m.group(0))
        f0, d0 = rf.frames, rd.frames
        wait_until(lambda: rf.frames >= f0 + 100 and rd.frames >= d0 + 100, 5,
                   msg="both still receiving after the rejected reload")
        self.assertTrue(relay.alive())

        # 2. a valid change removing the dark-pool endpoint: that socket gets 4002, flow goes on
        cfg = json.loads(json.dumps(relay.config))
        cfg["endpoints"] = [e for e in cfg["endpoints"] if e["channel"] != DARK]
        relay.reload(cfg)
        rd.join(5)
        self.assertFalse(rd.is_alive(), "dark-pool socket not closed after its endpoint went")
        self.assertEqual(rd.close_code, 4002)
        # the leave lingers for upstream.leave_delay (5 s by default) before it goes
        wait_until(lambda: DARK not in joined_now(sim), 5 + 5, msg="leave of off_lit_trades")
        f1 = rf.frames
        wait_until(lambda: rf.frames >= f1 + 100, 5, msg="flow still receiving after the reload")
        sim.ctl("rate", channel=FLOW, rate=0)
        sim.ctl("rate", channel=DARK, rate=0)
        rf.stop()
        rf.join(5)
        self.assertEqual(rf.errors, [])
        self.assertEqual(rd.errors, [])
        first, last, count = rf.seqs(FLOW)
        self.assertEqual((first, count), (1, last))
        first, last, count = rd.seqs(DARK)
        self.assertEqual((first, count), (1, last))
        self.assertIsNone(rf.close_code)
        self.assertEqual(relay.status()["total_clients"], 1)
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            wsclient.connect(HOST, relay.port, "/api/stream/ws/dark-pool")
        self.assertEqual(cm.exception.status, 404)


class TestRestart(harness.IntegrationTest):

    def test_epoch_changes_after_restart(self):
        """test_resume.py covers a made-up epoch; this is a real restart on the same port."""
        sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), sim.url(), clients={"max_msg_rate": 1000})
        r1 = self.start_relay(cfg)
        r1.wait_connected(10)
        c = self.client(r1, "/api/stream/ws/flow")
        g = self.client(r1, "/api/stream/ws?channels=news")
        expect_subscribed(c, FLOW)
        expect_subscribed(g, "news")
        wait_until(lambda: joined_now(sim) == {FLOW: 1, "news": 1}, 5)
        sim.publish(FLOW, 5)
        sim.publish("news", 4)
        got = recv_data(c, 5, channel=FLOW)
        old_epoch, old_seq = got[-1][0]["epoch"], got[-1][0]["seq"]
        news_seq = recv_data(g, 4, channel="news")[-1][0]["seq"]
        self.assertEqual((old_seq, news_seq), (5, 4))
        rc, killed = r1.stop()
        self.assertEqual((rc, killed), (0, False))
        self.assertEqual(harness.read_until_closed(c, 3)[0], 1001)

        r2 = self.start_relay(cfg, name="uwrelay2")
        self.assertEqual(r2.port, r1.port)
        r2.wait_connected(10)
        new_epoch = r2.status()["epoch"]
        self.assertNotEqual(new_epoch, old_epoch)
        c2 = self.client(r2, "/api/stream/ws/flow?since=%d&epoch=%s" % (old_seq, old_epoch))
        sub = expect_subscribed(c2, FLOW)
        self.assertEqual(sub["epoch"], new_epoch)
        gap = recv_relay(c2)
        self.assertEqual(gap["epoch"], new_epoch)
        d = gap["data"]
        self.assertEqual((d["type"], d["reason"], d["channel"]), ("gap", "epoch", FLOW), d)
        self.assertTrue(d.get("message"))
        # the same through a subscribe message on the generic endpoint
        g2 = self.client(r2, "/api/stream/ws")
        g2.send_json({"action": "subscribe", "channel": "news", "since": news_seq,
                      "epoch": old_epoch})
        expect_subscribed(g2, "news")
        d = recv_relay(g2)["data"]
        self.assertEqual((d["type"], d["reason"], d["channel"]), ("gap", "epoch", "news"), d)
        # then live data only, numbered in the new epoch
        wait_until(lambda: joined_now(sim) == {FLOW: 1, "news": 1}, 5)
        sim.publish(FLOW, 3)
        sim.publish("news", 1)
        live = recv_data(c2, 3, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in live], [1, 2, 3])
        self.assertEqual({e["epoch"] for e, _ in live}, {new_epoch})
        n = recv_data(g2, 1, channel="news")[0][0]
        self.assertEqual((n["seq"], n["epoch"]), (1, new_epoch))
        self.assertIsNone(c2.expect_nothing(0.2))


if __name__ == "__main__":
    harness.main()
