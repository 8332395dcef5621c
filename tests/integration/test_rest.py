#!/usr/bin/env python3
"""REST-polled channels (README "REST-polled channels"): congress trades from UW's REST API.

The simulator serves GET /api/congress/recent-trades (tests/uwsim/README.md, "REST: congress
trades") and logs every request in /ctl/stats "rest_log" with its CLOCK_MONOTONIC time, the same
clock as time.monotonic() here, so these tests can tell when and how often the relay polled.
Requests these tests make themselves carry "probe=1" in the query and are left out of the
relay's polls.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import (HOST, ENVELOPE_TS_RE, EPOCH_RE, expect_subscribed, free_port,  # noqa: E402
                     raw_data, recv_data, relay_config, wait_until)

CHAN = "congress"
REST_PATH = "/api/congress/recent-trades"
RELAY_PATH = REST_PATH + "?limit=100"        # what the relay asks for (query "limit=100")
INTERVAL = 0.5
# distinctive, so a leak is easy to find; the sim checks it as the Bearer token
TOKEN = "uwrest-Secret-7f3a9c2e41b8d"
CONGRESS_EP = {"id": "congress", "path": "/api/stream/ws/congress", "channel": CHAN,
               "name": "Congress Trades", "description": "x"}


def source(id_field="id", interval=INTERVAL, query="limit=100"):
    return {"channel": CHAN, "path": REST_PATH, "query": query, "interval": interval,
            "id_field": id_field}


def split_rows(body):
    """{"data":[ROW,...]} -> list of (parsed row, raw row bytes exactly as sent)."""
    text = body.decode("utf-8")
    m = re.match(r'\s*\{\s*"data"\s*:\s*\[', text)
    if not m:
        raise AssertionError("sim REST answer is not {\"data\":[...]}: %r" % text[:200])
    dec = json.JSONDecoder()
    i = m.end()
    out = []
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "]":
            return out
        obj, j = dec.raw_decode(text, i)
        out.append((obj, text[i:j].encode("utf-8")))
        i = j


class TestRest(harness.IntegrationTest):

    # ------------------------------------------------------------ fixtures

    def start(self, rows=5, id_field="id", interval=INTERVAL, endpoints=None, sources=None,
              level="debug", sim_extra=(), tls=False, **over):
        extra = ["--congress-rows", str(rows)] + list(sim_extra)
        if tls:
            cert, key = harness.make_cert(self.tmp)
            self.sim = self.start_sim(token=TOKEN, extra=extra, tls=True, cert=cert, key=key)
            up = {"url": self.sim.wss_url(), "ca_file": cert,
                  "rest_url": "https://localhost:%d" % self.sim.tls_port}
        else:
            self.sim = self.start_sim(token=TOKEN, extra=extra)
            up = {"rest_url": "http://%s:%d" % (HOST, self.sim.port)}
        cfg = relay_config(free_port(), self.sim.url(), upstream=up, log={"level": level}, **over)
        cfg["endpoints"] = endpoints if endpoints is not None else \
            [dict(e) for e in harness.DEFAULT_ENDPOINTS] + [dict(CONGRESS_EP)]
        cfg["sources"] = sources if sources is not None else [source(id_field, interval)]
        self.relay = self.start_relay(cfg, token=TOKEN)
        self.relay.wait_connected(10)
        return self.sim, self.relay

    def rest_log(self):
        """The relay's requests to the REST route (the sim's rest_log without our probes)."""
        return [e for e in self.sim.stats().get("rest_log", []) if "probe=1" not in e["path"]]

    def probe(self, limit=200):
        """GET the REST route ourselves, with the token.

        Returns ([(row, raw bytes)] newest first, {id: (row, raw bytes)})."""
        st, _, body = wsclient.http_get(HOST, self.sim.port, "%s?limit=%d&probe=1" % (REST_PATH, limit),
                                        headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(st, 200, body[:300])
        rows = split_rows(body)
        return rows, {r["id"]: (r, raw) for r, raw in rows}

    def src_status(self):
        return self.relay.status()["sources"][CHAN]

    def subscribe(self, path="/api/stream/ws/congress", channel=CHAN):
        c = self.client(self.relay, path)
        expect_subscribed(c, channel)
        return c

    def wait_polls(self, n, timeout=5.0, after=None):
        """Wait for at least n relay requests (made after `after`, a monotonic time, if given)."""
        def enough():
            log = [e for e in self.rest_log() if after is None or e["t"] > after]
            return log if len(log) >= n else None
        return wait_until(enough, timeout, 0.02, "%d relay REST request(s)" % n)

    def check_rows(self, frames, expect_rows):
        """frames: [(env, raw)] from the relay; expect_rows: sim_row numbers, in order."""
        _, by_id = self.probe()
        self.assertEqual([e["data"]["sim_row"] for e, _ in frames], expect_rows,
                         "rows not delivered once each, oldest first")
        for env, raw in frames:
            self.assertEqual(env["channel"], CHAN)
            self.assertRegex(env.get("epoch", ""), EPOCH_RE)
            self.assertRegex(env.get("timestamp", ""), ENVELOPE_TS_RE)
            rid = env["data"]["id"]
            self.assertIn(rid, by_id, "row %r is not in the sim's answer" % rid)
            self.assertEqual(raw_data(raw), by_id[rid][1],
                             "data is not byte-identical to the row the sim sent")
        seqs = [e["seq"] for e, _ in frames]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "seq not consecutive")

    def metric(self, name):
        st, _, body = self.relay.get("/metrics")
        self.assertEqual(st, 200)
        m = re.search(r'^%s\{channel="congress"\} (\d+(?:\.\d+)?)$' % re.escape(name),
                      body.decode(), re.M)
        self.assertIsNotNone(m, "no %s{channel=\"congress\"} in /metrics" % name)
        return float(m.group(1))

    # ------------------------------------------------------------ tests

    def test_default_config_has_congress(self):
        """Built-in defaults: /api/stream/ws/congress (id congress) fed by the congress source."""
        sim = self.start_sim(token=TOKEN, extra=["--congress-rows", "3"])
        cfg = relay_config(free_port(), sim.url(),
                           upstream={"rest_url": "http://%s:%d" % (HOST, sim.port)})
        del cfg["endpoints"]           # built-in endpoints and sources
        self.relay = relay = self.start_relay(cfg, token=TOKEN)
        self.sim = sim
        relay.wait_connected(10)
        eps = {e["id"]: e for e in relay.channels()["channels"]}
        self.assertIn("congress", eps, eps)
        self.assertEqual(eps["congress"]["endpoint"], "/api/stream/ws/congress")
        self.assertEqual(eps["congress"]["upstream_channel"], CHAN)
        src = self.src_status()
        self.assertEqual(src["channel"], CHAN)
        self.assertIs(src["polling"], False)
        self.assertEqual(src["polls"], 0)
        # interval 60 by default, but the first subscriber gets a poll at once
        t0 = time.monotonic()
        c = self.subscribe()
        frames = recv_data(c, 3, timeout=5, channel=CHAN)
        self.check_rows(frames, [1, 2, 3])
        log = self.rest_log()
        self.assertEqual(len(log), 1, log)
        self.assertEqual(log[0]["path"], RELAY_PATH)
        self.assertLess(log[0]["t"] - t0, 1.0)
        nxt = self.src_status()["next_poll_in"]
        self.assertIsNotNone(nxt)
        self.assertGreater(nxt, 50)

    def test_no_polling_without_subscribers(self):
        self.start()
        # a subscriber on another channel does not make the source poll either
        flow = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(flow, "flow-alerts")
        time.sleep(1.5)
        self.assertEqual(self.sim.stats()["rest_requests"], 0)
        src = self.src_status()
        for key in ("channel", "polling", "polls", "last_poll", "last_status", "last_error",
                    "rows_published", "malformed", "next_poll_in"):
            self.assertIn(key, src)
        self.assertEqual(src["channel"], CHAN)
        self.assertIs(src["polling"], False)
        self.assertEqual(src["polls"], 0)
        self.assertIsNone(src["last_poll"])
        self.assertIsNone(src["next_poll_in"])
        self.assertEqual(src["rows_published"], 0)
        self.assertEqual(self.metric("uwrelay_source_polls_total"), 0)

    def test_first_subscriber_polls_at_once_rows_oldest_first(self):
        self.start(rows=7)
        t0 = time.monotonic()
        c = self.subscribe()
        t1 = time.monotonic()
        frames = recv_data(c, 7, timeout=5, channel=CHAN)
        log = self.rest_log()
        self.assertGreaterEqual(len(log), 1)
        first = log[0]
        self.assertGreaterEqual(first["t"], t0 - 0.01)
        self.assertLessEqual(first["t"], t1 + 0.3,
                             "first poll %.3f s after the subscription, not at once" % (first["t"] - t1))
        self.assertEqual(first["path"], RELAY_PATH)
        self.assertEqual(first["status"], 200)
        self.assertIs(first["auth_ok"], True, "the relay did not send the Bearer token")
        self.check_rows(frames, [1, 2, 3, 4, 5, 6, 7])
        self.assertIsNone(c.expect_nothing(3 * INTERVAL), "a row was delivered twice")
        src = self.src_status()
        self.assertIs(src["polling"], True)
        self.assertEqual(src["rows_published"], 7)
        self.assertEqual(src["last_status"], 200)
        self.assertIsNone(src["last_error"])
        self.assertEqual(src["malformed"], 0)
        self.assertRegex(src["last_poll"], ENVELOPE_TS_RE)
        self.assertEqual(self.relay.status()["channels"][CHAN]["subscribers"], 1)
        self.assertEqual(self.metric("uwrelay_source_rows_total"), 7)

    def test_new_rows_only_once_in_order(self):
        self.start(rows=5)
        c = self.subscribe()
        self.check_rows(recv_data(c, 5, timeout=5, channel=CHAN), [1, 2, 3, 4, 5])
        self.assertEqual(self.sim.ctl("congress_add", count=3)["newest"], 8)
        frames = recv_data(c, 3, timeout=5, channel=CHAN)
        self.check_rows(frames, [6, 7, 8])
        self.assertEqual(frames[0][0]["seq"], 6)
        # several more polls: nothing repeats
        n = len(self.rest_log())
        self.assertIsNone(c.expect_nothing(4 * INTERVAL), "a row was delivered again")
        self.assertGreaterEqual(len(self.rest_log()), n + 2, "the relay stopped polling")
        # a batch bigger than one poll's worth of new rows, and a second batch
        self.sim.ctl("congress_add", count=20)
        self.check_rows(recv_data(c, 20, timeout=5, channel=CHAN), list(range(9, 29)))
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=5, channel=CHAN), [29])
        self.assertIsNone(c.expect_nothing(3 * INTERVAL))
        self.assertEqual(self.src_status()["rows_published"], 29)

    def test_polls_every_interval_and_stops(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        log = self.wait_polls(7, timeout=8)
        gaps = [b["t"] - a["t"] for a, b in zip(log, log[1:])]
        gaps_s = ", ".join("%.3f" % g for g in gaps)
        self.assertGreaterEqual(min(gaps), INTERVAL * 0.7, "polls too close: " + gaps_s)
        self.assertLessEqual(max(gaps), INTERVAL + 0.5, "polls too far apart: " + gaps_s)
        avg = sum(gaps) / len(gaps)
        self.assertTrue(INTERVAL * 0.85 <= avg <= INTERVAL * 1.5, "mean gap %.3f: %s" % (avg, gaps_s))
        src = self.src_status()
        self.assertIs(src["polling"], True)
        self.assertIsNotNone(src["next_poll_in"])
        self.assertLessEqual(src["next_poll_in"], INTERVAL + 0.1)
        self.assertGreaterEqual(src["polls"], 7)
        self.assertEqual(self.metric("uwrelay_source_polls_total"), float(self.src_status()["polls"]))
        # the last subscriber leaves: no more polls
        c.close()
        t_close = time.monotonic()
        wait_until(lambda: self.src_status()["polling"] is False, 3, msg="polling false")
        time.sleep(1.5)
        late = [e for e in self.rest_log() if e["t"] > t_close + 0.1]
        self.assertEqual(late, [], "polled after the last subscriber left")
        src = self.src_status()
        self.assertIsNone(src["next_poll_in"])
        self.assertEqual(self.metric("uwrelay_source_errors_total"), 0)

    def test_second_subscriber_no_poll_burst_and_resume(self):
        self.start(rows=5)
        a = self.subscribe()
        fa = recv_data(a, 5, timeout=5, channel=CHAN)
        epoch = fa[0][0]["epoch"]
        self.wait_polls(3)
        # B joins late, resuming after seq 2: seq 3..5 come from history, then live
        t_b = time.monotonic()
        b = self.client(self.relay, "/api/stream/ws/congress?since=2&epoch=%s" % epoch)
        sub = expect_subscribed(b, CHAN)
        self.assertEqual(sub["data"].get("seq"), 5)
        fb = recv_data(b, 3, timeout=5, channel=CHAN)
        self.assertEqual([e["seq"] for e, _ in fb], [3, 4, 5])
        for (ea, ra), (eb, rb) in zip(fa[2:], fb):
            self.assertEqual(ra, rb, "replayed envelope differs from the live one")
        # C joins without since: live only
        c = self.subscribe()
        self.sim.ctl("congress_add", count=2)
        got = [recv_data(x, 2, timeout=5, channel=CHAN) for x in (a, b, c)]
        for frames in got:
            self.assertEqual([e["seq"] for e, _ in frames], [6, 7])
            self.assertEqual([r for _, r in frames], [r for _, r in got[0]])
        self.check_rows(got[0], [6, 7])
        for x in (a, b, c):
            self.assertIsNone(x.expect_nothing(0.3))
        # no extra polls when B and C joined: spacing stays about the interval
        log = [e for e in self.rest_log() if e["t"] > t_b - INTERVAL * 1.5]
        gaps = [y["t"] - x["t"] for x, y in zip(log, log[1:])]
        self.assertTrue(gaps, log)
        self.assertGreaterEqual(min(gaps), INTERVAL * 0.7,
                                "poll burst when a subscriber joined: %s" % gaps)
        # the channel stays polled while one subscriber remains
        a.close()
        c.close()
        n = len(self.rest_log())
        self.wait_polls(n + 2, timeout=3)
        self.assertIs(self.src_status()["polling"], True)

    def test_resubscribe_sends_only_unseen_rows(self):
        self.start(rows=4)
        c = self.subscribe()
        self.check_rows(recv_data(c, 4, timeout=5, channel=CHAN), [1, 2, 3, 4])
        c.close()
        wait_until(lambda: self.src_status()["polling"] is False, 3, msg="polling false")
        self.sim.ctl("congress_add", count=2)
        c2 = self.subscribe()
        self.check_rows(recv_data(c2, 2, timeout=5, channel=CHAN), [5, 6])
        self.assertIsNone(c2.expect_nothing(3 * INTERVAL), "rows seen before were sent again")

    def test_429_retry_after(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", status=429, retry_after=2, count=1)
        t_set = time.monotonic()

        def the_429():
            return [e for e in self.rest_log() if e["status"] == 429]
        bad = wait_until(the_429, 3, msg="a 429 answered")[0]
        src = wait_until(lambda: (lambda s: s if s["last_status"] == 429 else None)(self.src_status()),
                         1.5, msg="status last_status 429")
        self.assertIsNotNone(src["last_error"])
        self.assertIn("429", src["last_error"])
        self.assertIsNotNone(src["next_poll_in"])
        self.assertGreater(src["next_poll_in"], 0.5, src)
        self.sim.ctl("congress_add", count=2)
        frames = recv_data(c, 2, timeout=8, channel=CHAN)
        self.check_rows(frames, [6, 7])
        log = self.rest_log()
        after = [e for e in log if e["t"] > bad["t"]]
        self.assertTrue(after)
        gap = after[0]["t"] - bad["t"]
        self.assertGreaterEqual(gap, 2.0 - 0.05, "next request %.3f s after a 429 with Retry-After: 2"
                                % gap)
        self.assertLess(gap, 4.0, "recovery took %.3f s" % gap)
        self.assertGreater(t_set + 3, bad["t"])
        src = wait_until(lambda: (lambda s: s if s["last_status"] == 200 else None)(self.src_status()),
                         3, msg="recovered")
        self.assertIsNone(src["last_error"])
        self.assertGreaterEqual(self.metric("uwrelay_source_errors_total"), 1)

    def test_5xx_backs_off_and_recovers(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", status=500, count=2)

        def errors():
            log = self.rest_log()
            i = [k for k, e in enumerate(log) if e["status"] == 500]
            return log if len(i) == 2 and len(log) > i[1] + 1 else None
        log = wait_until(errors, 10, 0.05, "two 500s and the next request")
        i = [k for k, e in enumerate(log) if e["status"] == 500]
        gap1 = log[i[1]]["t"] - log[i[0]]["t"]
        gap2 = log[i[1] + 1]["t"] - log[i[1]]["t"]
        self.assertEqual(i[1], i[0] + 1)
        self.assertGreater(gap1, INTERVAL * 1.5, "no back-off after a 500: %.3f s" % gap1)
        self.assertGreater(gap2, gap1 * 1.4, "back-off does not grow: %.3f then %.3f s" % (gap1, gap2))
        self.assertEqual(self.src_status()["last_status"], 200)
        # and polls at the interval again, publishing new rows
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=5, channel=CHAN), [6])
        n = len(self.rest_log())
        log = self.wait_polls(n + 3, timeout=4)
        gaps = [b["t"] - a["t"] for a, b in zip(log[-4:], log[-3:])]
        self.assertLessEqual(max(gaps), INTERVAL + 0.5, "still backing off after recovery: %s" % gaps)
        src = self.src_status()
        self.assertIsNone(src["last_error"])
        self.assertGreaterEqual(self.metric("uwrelay_source_errors_total"), 2)
        # 503 too
        self.sim.ctl("rest", status=503, count=1)
        wait_until(lambda: [e for e in self.rest_log() if e["status"] == 503], 3, msg="a 503")
        src = wait_until(lambda: (lambda s: s if s["last_status"] == 503 else None)(self.src_status()),
                         1.5, msg="status last_status 503")
        self.assertIn("503", src["last_error"] or "")

    def test_401_and_403_in_status_websocket_unaffected(self):
        self.start()
        flow = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(flow, "flow-alerts")
        wait_until(lambda: self.sim.stats()["joined"].get("flow-alerts") == 1, 5, msg="flow joined")
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        for status in (401, 403):
            self.sim.ctl("rest", status=status, count=1)
            src = wait_until(
                lambda: (lambda s: s if s["last_status"] == status else None)(self.src_status()),
                5, msg="status last_status %d" % status)
            self.assertIsNotNone(src["last_error"])
            self.assertIn(str(status), src["last_error"])
            st = self.relay.status()
            self.assertEqual(st["status"], "connected", "a REST %d changed the upstream state" % status)
            self.assertTrue(self.relay.alive())
            # the WebSocket channel still flows
            self.sim.publish("flow-alerts", 3)
            recv_data(flow, 3, timeout=5, channel="flow-alerts")
            # recovers once the token is accepted again
            wait_until(lambda: (lambda s: s if s["last_status"] == 200 else None)(self.src_status()),
                       8, msg="recovered after %d" % status)
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=5, channel=CHAN), [6])
        self.assertIsNone(self.src_status()["last_error"])

    def test_malformed_answers(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        newest = 5
        for kind in (1, 2, 3):
            with self.subTest(garbage=kind):
                before = self.src_status()["malformed"]
                self.sim.ctl("rest", garbage=kind, count=1)
                newest = self.sim.ctl("congress_add", count=2)["newest"]
                frames = recv_data(c, 2, timeout=6, channel=CHAN)
                t_recv = time.monotonic()
                self.check_rows(frames, [newest - 1, newest])
                log = self.rest_log()
                bad = [k for k, e in enumerate(log) if e.get("garbage") == kind]
                self.assertEqual(len(bad), 1, log)
                good = [e for e in log[bad[0] + 1:] if e["status"] == 200 and not e.get("garbage")]
                self.assertTrue(good, "no good poll after the malformed one")
                # published by the good poll, not from the malformed answer
                self.assertGreater(t_recv, good[0]["t"])
                src = wait_until(
                    lambda: (lambda s: s if s["malformed"] >= before + 1 else None)(self.src_status()),
                    2, msg="malformed counted")
                self.assertEqual(src["malformed"], before + 1)
                self.assertTrue(self.relay.alive())
                self.assertIsNone(c.expect_nothing(0.2))
        self.assertRegex(self.relay.log(), r"(?i)congress.*malformed|malformed.*congress")
        self.assertEqual(self.src_status()["rows_published"], newest)

    def test_token_never_leaks(self):
        self.start(level="debug")
        c = self.subscribe()
        msgs = [raw for _, raw in recv_data(c, 5, timeout=5, channel=CHAN)]
        self.sim.ctl("rest", status=401, count=1)
        wait_until(lambda: self.src_status()["last_status"] == 401, 5, msg="401")
        self.sim.ctl("rest", status=429, retry_after=1, count=1)
        wait_until(lambda: self.src_status()["last_status"] == 429, 5, msg="429")
        self.sim.ctl("rest", garbage=1, count=1)
        wait_until(lambda: self.src_status()["malformed"] >= 1, 6, msg="malformed")
        self.sim.ctl("congress_add", count=2)
        msgs += [raw for _, raw in recv_data(c, 2, timeout=8, channel=CHAN)]
        g = self.client(self.relay, "/api/stream/ws?channels=congress")
        msgs.append(g.recv_text(5))
        for label, text in (("log", self.relay.log().encode()),
                            ("status", self.relay.get("/api/stream/status")[2]),
                            ("metrics", self.relay.get("/metrics")[2]),
                            ("channels", self.relay.get("/api/stream/channels")[2]),
                            ("messages", b"\n".join(msgs))):
            self.assertNotIn(TOKEN.encode(), text, "the token appears in the relay's %s" % label)
        stats = self.sim.stats()
        self.assertNotIn(TOKEN, json.dumps(stats), "the sim's stats show the token")
        log = self.rest_log()
        self.assertTrue(log)
        for e in log:
            self.assertIs(e["auth_ok"], True, e)
            self.assertEqual(e["path"], RELAY_PATH, "the relay's request path changed: %r" % e)

    def test_generic_endpoint(self):
        self.start(rows=3)
        g = self.subscribe("/api/stream/ws?channels=congress")
        self.check_rows(recv_data(g, 3, timeout=5, channel=CHAN), [1, 2, 3])
        # subscribe by message on another generic socket, then unsubscribe both
        h = self.client(self.relay, "/api/stream/ws")
        h.send_json({"action": "subscribe", "channel": CHAN})
        expect_subscribed(h, CHAN)
        self.sim.ctl("congress_add", count=1)
        for x in (g, h):
            self.check_rows(recv_data(x, 1, timeout=5, channel=CHAN), [4])
        for x in (g, h):
            x.send_json({"action": "unsubscribe", "channel": CHAN})
        wait_until(lambda: self.src_status()["polling"] is False, 3, msg="polling stops")
        t = time.monotonic()
        time.sleep(3 * INTERVAL)
        self.assertEqual([e for e in self.rest_log() if e["t"] > t], [])

    def test_id_field_empty_uses_row_text(self):
        self.start(rows=5, id_field="")
        c = self.subscribe()
        self.check_rows(recv_data(c, 5, timeout=5, channel=CHAN), [1, 2, 3, 4, 5])
        self.sim.ctl("congress_add", count=3)
        self.check_rows(recv_data(c, 3, timeout=5, channel=CHAN), [6, 7, 8])
        n = len(self.rest_log())
        self.assertIsNone(c.expect_nothing(4 * INTERVAL), "a row was delivered again")
        self.assertGreaterEqual(len(self.rest_log()), n + 2)
        self.assertEqual(self.src_status()["rows_published"], 8)

    def test_slow_answer_one_request_at_a_time(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", delay=1.5, count=1)
        slow = wait_until(lambda: [e for e in self.rest_log() if e.get("delay")], 3, msg="slow request")[0]
        # the held answer carries the rows of the moment it is written
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=6, channel=CHAN), [6])
        after = self.wait_polls(1, timeout=3, after=slow["t"])
        self.assertGreaterEqual(after[0]["t"] - slow["t"], 1.5 - 0.05,
                                "a second request started while one was in flight")
        self.assertIsNone(c.expect_nothing(2 * INTERVAL))
        self.assertEqual(self.src_status()["last_status"], 200)

    def test_stalled_answer_is_given_up(self):
        """An answer that never comes does not stop the channel for good (every wait bounded)."""
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", delay=120, count=1)
        slow = wait_until(lambda: [e for e in self.rest_log() if e.get("delay")], 3, msg="held request")[0]
        nxt = self.wait_polls(1, timeout=30, after=slow["t"])[0]
        self.assertEqual(nxt["status"], 200)
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=5, channel=CHAN), [6])
        self.assertGreaterEqual(self.src_status()["errors"], 1)

    def test_hangup_without_answer(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", status=0, count=1)
        cut = wait_until(lambda: [e for e in self.rest_log() if e["status"] == 0], 3, msg="hang-up")[0]
        nxt = self.wait_polls(1, timeout=5, after=cut["t"])[0]
        self.assertGreater(nxt["t"] - cut["t"], INTERVAL * 1.2, "no back-off after a failed request")
        self.sim.ctl("congress_add", count=1)
        self.check_rows(recv_data(c, 1, timeout=5, channel=CHAN), [6])
        self.assertTrue(self.relay.alive())

    def test_sigterm_with_request_in_flight(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        self.sim.ctl("rest", delay=30, count=1)
        wait_until(lambda: [e for e in self.rest_log() if e.get("delay")], 3, msg="held request")
        t = time.monotonic()
        rc, killed = self.relay.stop(grace=5)
        self.assertFalse(killed, "uwrelay did not exit within 5 s of SIGTERM")
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t, 2.5, "SIGTERM took more than the promised 2 s")

    def test_sighup_keeps_polling(self):
        self.start()
        c = self.subscribe()
        recv_data(c, 5, timeout=5, channel=CHAN)
        before = len(re.findall(r"configuration reloaded", self.relay.log(), re.I))
        t = time.monotonic()
        self.relay.reload(self.relay.config)
        wait_until(lambda: len(re.findall(r"configuration reloaded", self.relay.log(), re.I)) > before,
                   5, msg="reloaded")
        log = self.wait_polls(4, timeout=5, after=t)
        gaps = [b["t"] - a["t"] for a, b in zip(log, log[1:])]
        self.assertGreaterEqual(min(gaps), INTERVAL * 0.7, "polls doubled after SIGHUP: %s" % gaps)
        self.sim.ctl("congress_add", count=2)
        self.check_rows(recv_data(c, 2, timeout=5, channel=CHAN), [6, 7])
        self.assertIsNone(c.expect_nothing(3 * INTERVAL), "rows sent again after SIGHUP")

    def test_two_sources(self):
        """Two REST channels on the same route (different queries) poll on their own."""
        srcs = [source(), {"channel": "congress-nvda", "path": REST_PATH,
                           "query": "limit=50&ticker=NVDA", "interval": INTERVAL, "id_field": "id"}]
        # 200 random rows over the sim's ~15 tickers: no NVDA row has odds of about 1e-6
        self.start(rows=200, sources=srcs)
        g = self.subscribe("/api/stream/ws?channels=congress-nvda", "congress-nvda")
        rows, _ = self.probe()
        nvda = sorted(r["sim_row"] for r, _ in rows if r["ticker"] == "NVDA")
        self.assertTrue(nvda, "the sim made no NVDA row in 200")
        frames = recv_data(g, len(nvda), timeout=5, channel="congress-nvda")
        self.assertEqual([e["data"]["sim_row"] for e, _ in frames], nvda)
        self.assertIsNone(g.expect_nothing(2 * INTERVAL))
        paths = {e["path"] for e in self.rest_log()}
        self.assertEqual(paths, {REST_PATH + "?limit=50&ticker=NVDA"}, "polled a source nobody wants")
        st = self.relay.status()["sources"]
        self.assertIs(st["congress"]["polling"], False)
        self.assertIs(st["congress-nvda"]["polling"], True)
        c = self.subscribe()
        self.assertEqual(len(recv_data(c, 100, timeout=5, channel=CHAN)), 100)   # limit=100

    def test_full_page_of_200_rows(self):
        self.start(rows=250, sources=[source(query="limit=200")])
        c = self.subscribe()
        frames = recv_data(c, 200, timeout=8, channel=CHAN)
        self.check_rows(frames, list(range(51, 251)))
        self.assertIsNone(c.expect_nothing(2 * INTERVAL))
        self.assertEqual(self.rest_log()[0]["path"], REST_PATH + "?limit=200")

    def test_https_rest_url_with_ca_file(self):
        self.start(rows=3, tls=True)
        c = self.subscribe()
        # probe() asks the plain port: the rows are the same on both
        self.check_rows(recv_data(c, 3, timeout=8, channel=CHAN), [1, 2, 3])
        log = self.rest_log()
        self.assertTrue(log and all(e["auth_ok"] for e in log), log)
        self.assertEqual(self.src_status()["last_status"], 200)


if __name__ == "__main__":
    harness.main()
