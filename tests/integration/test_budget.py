#!/usr/bin/env python3
"""The relay stays a polite UW client whatever its browsers do (README "upstream.budget").

Every join and leave the relay sends UW goes through one token bucket (upstream.budget: rate per
second, bursts of `burst`), and a channel nobody wants any more is left only upstream.leave_delay
later. Joins and leaves are counted at the simulator (/ctl/stats "joins", "leaves", "joined"),
never in the relay. Each test prints what it measured (upstream messages/s, log lines, waits)
on stderr, for the report in docs/BENCHMARKS-style notes.
"""

import json
import math
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import (HOST, expect_subscribed, free_port, recv_relay, relay_config,  # noqa: E402
                     wait_until)

# 60 short names: the request line of ?channels= must fit the relay's 512-byte URI buffer
CHANS = ["gex:C%d" % i for i in range(1, 61)]
SLACK = 2       # messages: a token refilled between the sim's count and ours


def note(fmt, *args):
    sys.stderr.write("  [measured] " + (fmt % args) + "\n")


class TestBudget(harness.IntegrationTest):

    def start(self, rate=5, burst=30, leave_delay=5, clients=None, level="info", **over):
        up = {"budget": {"rate": rate, "burst": burst}, "leave_delay": leave_delay}
        up.update(over.pop("upstream", {}))
        self.rate, self.burst, self.leave_delay = rate, burst, leave_delay
        self.sim, self.relay = self.sim_and_relay(upstream=up, log={"level": level},
                                                  clients=clients or {}, **over)
        return self.sim, self.relay

    def updown(self, st=None):
        st = st or self.sim.stats()
        return st["joins"] + st["leaves"]

    def joined_set(self, st=None):
        st = st or self.sim.stats()
        return {ch for ch, n in st["joined"].items() if n}

    def budget(self):
        return self.relay.conn()["budget"]

    def bound(self, elapsed):
        return self.burst + self.rate * elapsed + SLACK

    def log_lines(self):
        return self.relay.log().count("\n")

    def churn(self, seconds, path):
        """Open and close (abruptly) WebSockets on path as fast as one client can."""
        n = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            c = self.relay.ws(path)
            c.abort()
            n += 1
        return n, time.monotonic() - t0

    def wait_converged(self, want, timeout, what):
        """The sim's joined set becomes `want` and the relay has nothing queued or lingering."""
        def done():
            st = self.sim.stats()
            if self.joined_set(st) != set(want):
                return None
            b = self.budget()
            if b["queued_joins"] or b["queued_leaves"] or b["lingering_leaves"]:
                return None
            return st
        return wait_until(done, timeout, 0.05, what)

    # ------------------------------------------------------------ churn

    def churn_attack(self, leave_delay, rate, burst):
        """One client opens and closes sockets with 60 channels in ?channels= for 5 s."""
        # 60 names fit the socket's message budget only if its burst (2 x max_msg_rate) does
        self.start(rate=rate, burst=burst, leave_delay=leave_delay, clients={"max_msg_rate": 30})
        path = "/api/stream/ws?channels=" + ",".join(CHANS)
        lines0 = self.log_lines()
        base = self.updown()
        t0 = time.monotonic()
        cycles, elapsed = self.churn(5.0, path)
        st = self.sim.stats()
        during = self.updown(st) - base
        lines_churn = self.log_lines() - lines0
        note("churn leave_delay=%g rate=%g burst=%d: %d socket cycles in %.2f s (%.0f/s, %d "
             "channel subscriptions); UW got %d joins + %d leaves = %.1f msg/s; %d log lines",
             leave_delay, rate, burst, cycles, elapsed, cycles / elapsed, cycles * 60,
             st["joins"], st["leaves"], during / elapsed, lines_churn)
        self.assertGreater(cycles, 200, "the churn was too slow to mean anything")
        self.assertLessEqual(during, self.bound(time.monotonic() - t0),
                             "UW got more than the budget allows during the churn")
        # churn over, nobody subscribed: everything is left, within the linger and the drain
        # (at most 60 leaves at `rate`)
        drain = leave_delay + 60.0 / rate + 3
        self.wait_converged(set(), drain, "joined set empty after the churn")
        t_end = time.monotonic() - t0
        total = self.updown() - base
        note("  converged to nothing joined %.2f s after the churn began; %d messages in all "
             "(bound %.0f)", t_end, total, self.bound(t_end))
        self.assertLessEqual(total, self.bound(t_end))
        # what the relay says agrees with the sim
        conn = self.relay.conn()
        self.assertEqual(conn["subscribed_channels"], [])
        self.assertEqual(conn["joins_sent"] + conn["leaves_sent"], total)
        s = self.relay.status()
        self.assertEqual(s["total_clients"], 0)
        # the log stays small: no line per join, leave or socket
        lines = self.log_lines() - lines0
        note("  log lines from churn start to convergence: %d", lines)
        self.assertLessEqual(lines, 20, self.relay.log()[-3000:])
        return cycles, total

    def test_churn_with_linger(self):
        """The default budget and linger: churn on the same channels costs one join each."""
        cycles, total = self.churn_attack(leave_delay=5, rate=5, burst=30)
        # each channel joined at most once and left as often, however many sockets came
        # and went (a channel whose join was still waiting for a token when the churn
        # stopped is never joined)
        st = self.sim.stats()
        joined = 0
        for ch in CHANS:
            self.assertLessEqual(self.sim.joins_of(ch, st), 1, ch)
            self.assertEqual(self.sim.leaves_of(ch, st), self.sim.joins_of(ch, st), ch)
            joined += self.sim.joins_of(ch, st)
        note("  %d of the 60 channels were joined (each once)", joined)
        self.assertGreaterEqual(joined, self.burst)

    def test_churn_without_linger(self):
        """leave_delay 0: every close makes a leave due at once; the budget alone bounds UW."""
        self.churn_attack(leave_delay=0, rate=20, burst=30)

    def test_subscribe_unsubscribe_sockets(self):
        """20 sockets alternate subscribe/unsubscribe over ever new channels, each within its
        message limit (15 of 20 messages/s); 5 stay subscribed at the end."""
        self.start(rate=10, burst=20, leave_delay=0.5)
        socks = [self.client(self.relay, "/api/stream/ws") for _ in range(20)]
        current = [None] * 20
        base = self.updown()
        sent = 0
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < 4.0:
            t_round = time.monotonic()
            for i, c in enumerate(socks):
                if current[i]:
                    c.send_json({"action": "unsubscribe", "channel": current[i]})
                    current[i] = None
                else:
                    current[i] = "price:S%dK%d" % (i, k)
                    c.send_json({"action": "subscribe", "channel": current[i]})
                sent += 1
            k += 1
            time.sleep(max(0.0, 1 / 15.0 - (time.monotonic() - t_round)))
        elapsed = time.monotonic() - t0
        st = self.sim.stats()
        during = self.updown(st) - base
        # the last round: sockets 0..4 end subscribed, the others not
        for i, c in enumerate(socks):
            if i < 5 and not current[i]:
                current[i] = "price:S%dEND" % i
                c.send_json({"action": "subscribe", "channel": current[i]})
            elif i >= 5 and current[i]:
                c.send_json({"action": "unsubscribe", "channel": current[i]})
                current[i] = None
        want = {ch for ch in current if ch}
        self.assertEqual(len(want), 5)
        note("20 sockets: %d client messages in %.2f s (%.0f/s); UW got %d messages (%.1f/s, "
             "budget %g/s burst %d)", sent, elapsed, sent / elapsed, during, during / elapsed,
             self.rate, self.burst)
        self.assertLessEqual(during, self.bound(elapsed))
        # no socket was closed for its rate: each still answers
        for c in socks:
            c.send_json({"action": "subscribe", "channel": "bad name"})
        t1 = time.monotonic()
        self.wait_converged(want, 0.5 + 60 / self.rate, "joined set == what the 5 remaining want")
        total = self.updown() - base
        t_all = time.monotonic() - t0
        note("  converged %.2f s after the churn; %d messages in %.2f s (bound %.0f)",
             time.monotonic() - t1, total, t_all, self.bound(t_all))
        self.assertLessEqual(total, self.bound(t_all))
        conn = self.relay.conn()
        self.assertEqual(set(conn["subscribed_channels"]), want)
        for c in socks:
            while True:
                env = recv_relay(c, 5)
                if env["data"].get("code") == "channel_not_allowed":
                    break

    # ------------------------------------------------------------ linger

    def test_leave_lingers(self):
        """Closed and reopened within leave_delay: no leave, no second join; left once
        leave_delay passes with nobody back."""
        self.start(leave_delay=1.5)
        FLOW = "flow-alerts"
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="join")
        for _ in range(3):
            c.close()
            wait_until(lambda: self.budget()["lingering_leaves"] == 1, 2, msg="lingering")
            time.sleep(0.3)
            c = self.client(self.relay, "/api/stream/ws/flow")
            expect_subscribed(c, FLOW)
            self.assertEqual(self.budget()["lingering_leaves"], 0)
        # well past the first close's leave_delay: still joined once, never left
        time.sleep(1.0)
        st = self.sim.stats()
        self.assertEqual(self.sim.joins_of(FLOW, st), 1, st["join_log"])
        self.assertEqual(self.sim.leaves_of(FLOW, st), 0, st["leave_log"])
        self.assertEqual(st["joined"].get(FLOW), 1)
        # the data still flows to the reopened socket
        self.sim.publish(FLOW, 1)
        harness.recv_data(c, 1, channel=FLOW)
        # nobody comes back: left after leave_delay, not before
        c.close()
        t_close = time.monotonic()
        time.sleep(1.0)
        self.assertEqual(self.sim.leaves_of(FLOW), 0, "left before leave_delay")
        self.assertIn(FLOW, self.relay.conn()["subscribed_channels"])
        wait_until(lambda: self.sim.leaves_of(FLOW) == 1, 3, 0.02, "leave after leave_delay")
        waited = time.monotonic() - t_close
        note("leave sent %.2f s after the last close (leave_delay 1.5)", waited)
        self.assertGreaterEqual(waited, 1.4)
        self.assertLessEqual(waited, 2.5)
        self.assertEqual(self.budget()["lingering_leaves"], 0)
        self.assertNotIn(FLOW, self.relay.conn()["subscribed_channels"])

    # ------------------------------------------------------------ timing of joins

    def test_first_join_is_prompt(self):
        self.start()
        t0 = time.monotonic()
        c = self.client(self.relay, "/api/stream/ws?channels=news")
        expect_subscribed(c, "news")
        wait_until(lambda: self.sim.joins_of("news") == 1, 2, 0.005, "join of news")
        dt = time.monotonic() - t0
        b = self.budget()
        note("first join at the sim %.1f ms after the socket opened; relay-side wait %d ms",
             dt * 1000, b["join_wait_last_ms"])
        self.assertLess(dt, 0.5)
        self.assertLessEqual(b["join_wait_last_ms"], 50)
        self.assertEqual(b["queued_joins"], 0)
        self.assertEqual(b["rate"], 5)
        self.assertEqual(b["burst"], 30)
        self.assertAlmostEqual(b["tokens"], 29, delta=0.5)

    def test_queued_joins_sent_by_the_timer(self):
        """Joins beyond the burst wait for tokens and go out as they come, with no client
        action."""
        self.start(rate=2, burst=3, clients={"max_msg_rate": 100})
        names = ["price:Q%d" % i for i in range(7)]
        t0 = time.monotonic()
        c = self.client(self.relay, "/api/stream/ws?channels=" + ",".join(names))
        for ch in names:
            expect_subscribed(c, ch)
        # at once: the burst; then one per 1/rate s
        wait_until(lambda: self.sim.stats()["joins"] >= 3, 1, 0.005, "the burst of 3 joins")
        b = self.budget()
        self.assertGreaterEqual(b["queued_joins"], 3, b)
        self.assertEqual(self.sim.stats()["joins"], 3)
        seen = {}
        deadline = t0 + 4
        while time.monotonic() < deadline and len(seen) < 4:
            n = self.sim.stats()["joins"]
            for k in range(4, n + 1):
                seen.setdefault(k, time.monotonic() - t0)
            time.sleep(0.01)
        self.assertEqual(sorted(seen), [4, 5, 6, 7], "queued joins were not all sent: %r" % seen)
        times = [seen[k] for k in (4, 5, 6, 7)]
        note("queued joins reached the sim at %s s (rate 2/s, burst 3); relay's longest wait %d ms",
             ", ".join("%.2f" % t for t in times), self.budget()["join_wait_max_ms"])
        # one token every 0.5 s: the 4th no sooner than ~0.5 s, the 7th around 2 s
        self.assertGreater(times[0], 0.35)
        self.assertLess(times[3], 2.8)
        for a, b_ in zip(times, times[1:]):
            self.assertGreater(b_ - a, 0.3, times)
        self.assertEqual(self.joined_set(), set(names))
        b = self.budget()
        self.assertEqual(b["queued_joins"], 0)
        self.assertGreaterEqual(b["join_wait_max_ms"], 1800)
        self.assertGreaterEqual(self.relay.conn()["budget"]["stalls"], 1)

    def test_joins_before_leaves_and_rejoin_uses_budget(self):
        """With leaves and joins both due, joins go first; after a reconnect the rejoin of
        every wanted channel goes through the same budget."""
        self.start(rate=2, burst=4, leave_delay=0, clients={"max_msg_rate": 100})
        olds = ["price:O%d" % i for i in range(4)]
        a = self.client(self.relay, "/api/stream/ws?channels=" + ",".join(olds))
        for ch in olds:
            expect_subscribed(a, ch)
        wait_until(lambda: self.sim.stats()["joins"] == 4, 2, msg="4 joins")
        news = ["price:N%d" % i for i in range(4)]
        # the bucket is empty: 4 leaves and 4 joins wait; the joins must come out first
        a.abort()
        b = self.client(self.relay, "/api/stream/ws?channels=" + ",".join(news))
        for ch in news:
            expect_subscribed(b, ch)
        samples = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            st = self.sim.stats()
            samples.append((st["joins"], st["leaves"]))
            if st["leaves"] >= 4:
                break
            time.sleep(0.01)
        self.assertEqual(samples[-1], (8, 4), samples[-1])
        early = [x for x in samples if x[1] > 0 and x[0] < 8]
        self.assertEqual(early, [], "a leave went out before every waiting join")
        st = self.sim.stats()
        self.assertEqual(sorted(st["join_log"][4:]), sorted(news))
        self.assertEqual(self.joined_set(st), set(news))
        # a cut now, with the bucket empty: the rejoin of the 4 channels comes out of the
        # same budget, one token every 0.5 s, not all at once
        self.sim.ctl("cut")
        seen = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen) < 4:
            n = self.sim.stats()["joins"]
            for k in range(9, n + 1):
                seen.setdefault(k, time.monotonic())
            time.sleep(0.01)
        self.assertEqual(sorted(seen), [9, 10, 11, 12], seen)
        spread = seen[12] - seen[9]
        note("rejoin of 4 channels after a cut spread over %.2f s (rate 2/s)", spread)
        self.assertGreater(spread, 1.0)
        self.assertEqual(self.joined_set(), set(news))

    # ------------------------------------------------------------ client side

    def test_channels_param_counts_against_rate_and_cap(self):
        self.start()
        # default max_msg_rate 20: a new socket's burst is 40 names
        names = ["gex:R%d" % i for i in range(50)]
        c = self.client(self.relay, "/api/stream/ws?channels=" + ",".join(names))
        subscribed, limited = [], []
        for _ in names:
            d = recv_relay(c)["data"]
            if d["type"] == "subscribed":
                subscribed.append(d["channel"])
            elif d.get("code") == "rate_limited":
                limited.append(d["channel"])
            else:
                self.fail("unexpected notice %r" % d)
        self.assertEqual(subscribed, names[:40])
        self.assertEqual(limited, names[40:])
        # the socket stays open and usable once its bucket refills
        time.sleep(0.2)
        c.send_json({"action": "subscribe", "channel": "news"})
        self.assertEqual(recv_relay(c)["data"]["type"], "subscribed")
        st = self.relay.status()
        self.assertEqual(st["channels"]["gex:R0"]["subscribers"], 1)
        self.assertNotIn("gex:R45", st["channels"])

    def test_channels_param_counts_against_max_channels(self):
        self.start(clients={"max_channels": 5, "max_msg_rate": 100})
        names = ["gex:M%d" % i for i in range(8)]
        # a list longer than max_channels is refused whole, before any work on it
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            self.client(self.relay, "/api/stream/ws?channels=" + ",".join(names))
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("max_channels", json.loads(cm.exception.body)["error"])
        # up to the cap, every name is subscribed; one more by message is refused
        c = self.client(self.relay, "/api/stream/ws?channels=" + ",".join(names[:5]))
        got = [recv_relay(c)["data"] for _ in names[:5]]
        self.assertEqual([d["channel"] for d in got if d["type"] == "subscribed"], names[:5])
        c.send_json({"action": "subscribe", "channel": names[5]})
        d = recv_relay(c)["data"]
        self.assertEqual((d["type"], d.get("code"), d.get("channel")),
                         ("error", "too_many_channels", names[5]))
        c.send_json({"action": "unsubscribe", "channel": "gex:M0"})
        self.assertEqual(recv_relay(c)["data"]["type"], "unsubscribed")

    # ------------------------------------------------------------ visible, reloadable

    def test_status_metrics_and_reload(self):
        self.start(rate=3, burst=7, leave_delay=2)
        c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(c, "flow-alerts")
        wait_until(lambda: self.sim.joins_of("flow-alerts") == 1, 2)
        c.close()
        wait_until(lambda: self.budget()["lingering_leaves"] == 1, 2, msg="lingering")
        b = self.budget()
        self.assertEqual((b["rate"], b["burst"], b["leave_delay"]), (3, 7, 2))
        self.assertEqual(b["sent_last_10s"], 1)
        self.assertEqual((b["queued_joins"], b["queued_leaves"]), (0, 0))
        st, _, body = self.relay.get("/metrics")
        text = body.decode()
        for name, value in (("uwrelay_upstream_budget_rate", 3), ("uwrelay_upstream_budget_burst", 7),
                            ("uwrelay_upstream_lingering_leaves", 1),
                            ("uwrelay_upstream_queued_joins", 0),
                            ("uwrelay_upstream_queued_leaves", 0)):
            m = re.search(r"^%s (\S+)$" % name, text, re.M)
            self.assertIsNotNone(m, name)
            self.assertEqual(float(m.group(1)), value, name)
        m = re.search(r"(?m)^uwrelay_upstream_budget_tokens (\S+)$", text)
        self.assertTrue(m and 6 <= float(m.group(1)) <= 7, text[-2000:])
        self.assertRegex(text, r"(?m)^uwrelay_upstream_budget_stalls_total 0$")
        # SIGHUP: new values apply, including to the leave that is lingering now
        cfg = dict(self.relay.config)
        cfg["upstream"] = dict(cfg["upstream"], budget={"rate": 9, "burst": 11}, leave_delay=0)
        self.relay.reload(cfg)
        self.relay.wait_log(r"configuration reloaded", 5)
        wait_until(lambda: self.sim.leaves_of("flow-alerts") == 1, 1, msg="leave after reload")
        b = self.budget()
        self.assertEqual((b["rate"], b["burst"], b["leave_delay"]), (9, 11, 0))
        self.assertEqual(b["lingering_leaves"], 0)

    # ------------------------------------------------------------ REST source

    def test_rest_source_churn(self):
        """subscribe/unsubscribe congress over and over: at most one poll per interval."""
        interval = 2
        sim = self.start_sim(extra=["--congress-rows", "3"])
        cfg = relay_config(free_port(), sim.url(),
                           upstream={"rest_url": "http://%s:%d" % (HOST, sim.port)},
                           clients={"max_msg_rate": 100})
        cfg["sources"] = [{"channel": "congress", "path": "/api/congress/recent-trades",
                           "query": "limit=100", "interval": interval, "id_field": ""}]
        relay = self.start_relay(cfg)
        relay.wait_connected(10)
        self.sim, self.relay = sim, relay
        c = self.client(relay, "/api/stream/ws")
        t0 = time.monotonic()
        cycles = 0
        while time.monotonic() - t0 < 5.0:
            # subscribed 0.1 s of every 0.15 s, so a poll that is due can happen
            c.send_json({"action": "subscribe", "channel": "congress"})
            time.sleep(0.1)
            c.send_json({"action": "unsubscribe", "channel": "congress"})
            cycles += 1
            time.sleep(0.05)
        # drain what the relay answered (subscribed/unsubscribed and maybe data)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        log = [e for e in sim.stats().get("rest_log", []) if e["t"] >= t0 - 0.01]
        allowed = math.ceil((elapsed + 0.3) / interval) + 1
        note("REST churn: %d subscribe/unsubscribe cycles in %.2f s -> %d polls (allowed %d); "
             "poll times %s", cycles, elapsed, len(log), allowed,
             ", ".join("%.2f" % (e["t"] - t0) for e in log))
        self.assertGreaterEqual(len(log), 1, "the first subscriber did not poll at once")
        self.assertLessEqual(len(log), allowed)
        gaps = [b["t"] - a["t"] for a, b in zip(log, log[1:])]
        self.assertTrue(all(g >= interval * 0.9 for g in gaps), gaps)


if __name__ == "__main__":
    harness.main()
