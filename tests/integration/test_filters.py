#!/usr/bin/env python3
"""Subscriber filters (docs/PROTOCOL.md, "Filters"): the subset each filter gets, checked against
the frames the simulator recorded with an evaluation written here in Python; one evaluation per
frame and distinct filter, shown by the relay's counters; bad filters and filters on channels that
take none refused with a reason; resume with a filter replays only matching frames."""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Collector, expect_subscribed, raw_data, raw_record_payload,  # noqa: E402
                     recv_data, recv_relay, wait_until)

FLOW = "flow-alerts"
TRADES = "option_trades"


def number(v):
    """A payload number as filter.c reads it: a JSON number or a string holding one."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v and all(c in "0123456789.eE+-" for c in v):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def passes(channel, text, payload):
    """The reference evaluation of filter `text` on a parsed payload (see docs/PROTOCOL.md)."""
    flow = channel == FLOW
    for clause in text.split(";"):
        key, _, value = clause.partition(":")
        if key == "tickers":
            t = payload.get("ticker" if flow else "underlying_symbol")
            if not isinstance(t, str) or t.upper() not in {v.upper() for v in value.split(",")}:
                return False
        elif key == "rules":
            if payload.get("rule_name") not in value.split(","):
                return False
        elif key == "side":
            if flow:
                occ = payload.get("option_chain", "")
                side = {"C": "call", "P": "put"}.get(occ[-9:-8]) if len(occ) >= 15 else None
            else:
                side = payload.get("option_type")
            if side != value:
                return False
        elif key in ("min_premium", "min_size"):
            x = number(payload.get("total_premium" if key == "min_premium" else "size"))
            if x is None or x < int(value):
                return False
        else:
            raise AssertionError("reference evaluation does not know %r" % key)
    return True


def q(text):
    return urllib.parse.quote(text, safe="")


class TestFilters(harness.IntegrationTest):

    def start(self, **over):
        over.setdefault("clients", {"max_msg_rate": 10000})
        over.setdefault("upstream", {"leave_delay": 0})
        self.sim, self.relay = self.sim_and_relay(sim_kw={"record": True}, **over)

    def joined(self, *channels):
        wait_until(lambda: all(self.sim.stats()["joined"].get(c) == 1 for c in channels), 5,
                   msg="%s joined upstream" % (channels,))

    def recorded(self, channel, count):
        """The payloads the sim sent on channel, in order (exactly count of them)."""
        def lines():
            return [p for c, p in (raw_record_payload(l) for l in self.sim.records()) if c == channel]
        wait_until(lambda: len(lines()) >= count, 5, msg="%d %s frames recorded" % (count, channel))
        out = lines()
        self.assertEqual(len(out), count)
        return out

    def filters_status(self):
        return self.relay.status()["filters"]

    def check_subset(self, collector, channel, text, recorded, reference):
        """collector got exactly the recorded frames the filter passes, byte for byte the envelopes
        the unfiltered reference subscriber got (the same shared frame)."""
        want = [k for k, p in enumerate(recorded) if passes(channel, text, json.loads(p))]
        self.assertGreater(len(want), 0, "filter %r passes nothing: the test proves little" % text)
        self.assertLess(len(want), len(recorded), "filter %r passes everything" % text)
        self.assertIsNone(collector.error, "%s: %r after %d frames" % (text, collector.error,
                                                                     len(collector.frames)))
        got = [json.loads(raw)["seq"] for raw in collector.frames]
        self.assertEqual(got, [reference[k][0]["seq"] for k in want], text)
        for raw, k in zip(collector.frames, want):
            self.assertEqual(raw_data(raw), recorded[k])
            self.assertEqual(raw, reference[k][1], "the filtered envelope is not the shared one")
        self.assertIsNone(collector.client.expect_nothing(0.2), "%s: more than the subset" % text)

    def test_flow_subsets(self):
        """Each way of asking (path endpoint, ?channels=, subscribe message) gets exactly the
        flow alerts its filter passes, evaluated here on the sim's recorded payloads."""
        self.start()
        n = 300
        ref = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(ref, FLOW)
        cases = [
            ("path", "tickers:spy,QQQ,TSLA,NVDA;side:call"),
            ("channels", "min_premium:500000"),
            ("message", "rules:RepeatedHits,FloorTradeLargeCap"),
            ("message", "side:put;min_premium:100000;tickers:AAPL,AMD,MSFT,SPY,IWM,META"),
        ]
        clients = []
        for how, text in cases:
            if how == "path":
                c = self.client(self.relay, "/api/stream/ws/flow?filter=" + q(text))
            elif how == "channels":
                c = self.client(self.relay, "/api/stream/ws?channels=%s&filter=%s" % (FLOW, q(text)))
            else:
                c = self.client(self.relay, "/api/stream/ws")
                c.send_json({"action": "subscribe", "channel": FLOW, "filter": text})
            sub = expect_subscribed(c, FLOW)["data"]
            self.assertIs(sub.get("seq_jumps"), True, sub)
            self.assertTrue(sub.get("filter"), sub)
            clients.append(c)
        self.joined(FLOW)
        self.sim.publish(FLOW, n)
        reference = recv_data(ref, n, channel=FLOW)
        recorded = self.recorded(FLOW, n)
        for (env, raw), payload in zip(reference, recorded):
            self.assertEqual(raw_data(raw), payload)
        for (how, text), c in zip(cases, clients):
            want = sum(1 for p in recorded if passes(FLOW, text, json.loads(p)))
            col = Collector(c, want, timeout=10)
            col.run()
            self.check_subset(col, FLOW, text, recorded, reference)

    def test_option_trades_subsets(self):
        """option_trades by tickers, minimum size and side; option_trades:TICKER too."""
        self.start()
        n = 300
        ref = self.client(self.relay, "/api/stream/ws?channels=%s,%s:SPY" % (TRADES, TRADES))
        expect_subscribed(ref, TRADES)
        expect_subscribed(ref, TRADES + ":SPY")
        a_text = "tickers:SPY,QQQ,TSLA,AAPL;min_size:100"
        b_text = "min_size:250;side:put"
        a = self.client(self.relay, "/api/stream/ws?channels=%s&filter=%s" % (TRADES, q(a_text)))
        expect_subscribed(a, TRADES)
        b = self.client(self.relay, "/api/stream/ws")
        b.send_json({"action": "subscribe", "channel": TRADES + ":SPY", "filter": b_text})
        self.assertEqual(expect_subscribed(b, TRADES + ":SPY")["data"]["filter"], "side:put;min_size:250")
        self.joined(TRADES, TRADES + ":SPY")
        self.sim.publish(TRADES, n)
        ref_all = recv_data(ref, n, channel=TRADES)
        rec_all = self.recorded(TRADES, n)
        col = Collector(a, sum(1 for p in rec_all if passes(TRADES, a_text, json.loads(p))), timeout=10)
        col.run()
        self.check_subset(col, TRADES, a_text, rec_all, ref_all)
        self.sim.publish(TRADES + ":SPY", n)
        ref_spy = recv_data(ref, n, channel=TRADES + ":SPY")
        rec_spy = self.recorded(TRADES + ":SPY", n)
        col = Collector(b, sum(1 for p in rec_spy if passes(TRADES, b_text, json.loads(p))), timeout=10)
        col.run()
        self.check_subset(col, TRADES, b_text, rec_spy, ref_spy)

    def test_shared_evaluation(self):
        """Ten subscribers with one filter (written three ways) and five with another: each frame
        costs two evaluations, not fifteen; the counters fall back when they leave."""
        self.start()
        n = 100
        same = ["tickers:SPY,QQQ;side:call", "side:call;tickers:qqq,spy", "tickers:QQQ,SPY,QQQ;side:call"]
        group_a, group_b = [], []
        for i in range(10):
            c = self.client(self.relay, "/api/stream/ws/flow?filter=" + q(same[i % 3]))
            self.assertEqual(expect_subscribed(c, FLOW)["data"]["filter"], "tickers:QQQ,SPY;side:call")
            group_a.append(c)
        for i in range(5):
            c = self.client(self.relay, "/api/stream/ws")
            c.send_json({"action": "subscribe", "channel": FLOW, "filter": "min_premium:200000"})
            expect_subscribed(c, FLOW)
            group_b.append(c)
        ref = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(ref, FLOW)
        self.joined(FLOW)
        st = self.filters_status()
        self.assertEqual((st["distinct"], st["subscriptions"]), (2, 15), st)
        before = st["evaluations"]
        self.sim.publish(FLOW, n)
        reference = recv_data(ref, n, channel=FLOW)
        recorded = self.recorded(FLOW, n)
        want_a = sum(1 for p in recorded if passes(FLOW, same[0], json.loads(p)))
        want_b = sum(1 for p in recorded if passes(FLOW, "min_premium:200000", json.loads(p)))
        for group, want in ((group_a, want_a), (group_b, want_b)):
            for c in group:
                col = Collector(c, want, timeout=10)
                col.run()
                self.assertIsNone(col.error, "%r after %d" % (col.error, len(col.frames)))
                self.assertEqual([json.loads(r)["seq"] for r in col.frames],
                                 [e["seq"] for (e, _), p in zip(reference, recorded)
                                  if passes(FLOW, same[0] if group is group_a else "min_premium:200000",
                                            json.loads(p))])
        st = self.filters_status()
        self.assertEqual(st["evaluations"] - before, 2 * n, st)
        self.assertGreaterEqual(st["skipped"], 10 * (n - want_a) + 5 * (n - want_b))
        metrics = self.relay.get("/metrics")[2].decode()
        self.assertIn("uwrelay_filters 2\n", metrics)
        self.assertIn("uwrelay_filter_evaluations_total %d\n" % st["evaluations"], metrics)
        # leaving gives the entries back
        for c in group_a + group_b:
            c.close()
        wait_until(lambda: self.filters_status()["distinct"] == 0, 5, msg="no filter left")
        self.assertEqual(self.filters_status()["subscriptions"], 0)

    def test_bad_filters_refused(self):
        """A bad filter gets a bad_request error naming the problem and no subscription, on the
        URL and in a message; so does a filter on a channel that takes none."""
        self.start()
        bad = [
            (FLOW, "colour:red", 'unknown key "colour"'),
            (FLOW, "min_size:10", "min_size does not apply to flow-alerts"),
            (TRADES, "rules:RepeatedHits", "rules does not apply to option_trades"),
            (FLOW, "side:both", "side must be call or put"),
            (FLOW, "tickers:SPY,,QQQ", "item 2 of tickers is empty"),
            (FLOW, "min_premium:1e6", "min_premium must be a whole number"),
            (FLOW, "side:call;side:put", "side is given twice"),
            (FLOW, "tickers:" + ",".join("T%d" % i for i in range(51)), "more than 50 items in tickers"),
            (FLOW, "tickers:" + "A" * 600, "longer than 512 bytes"),
            ("news", "tickers:SPY", "takes no filter"),
            ("gex:SPY", "side:call", "takes no filter"),
        ]
        g = self.client(self.relay, "/api/stream/ws")
        for channel, text, says in bad:
            g.send_json({"action": "subscribe", "channel": channel, "filter": text})
            err = recv_relay(g)["data"]
            self.assertEqual((err["type"], err["code"]), ("error", "bad_request"), err)
            self.assertIn(says, err["message"])
            self.assertEqual(err["channel"], channel)
            # the same on the URL, on the generic endpoint and on a path endpoint
            path = ("/api/stream/ws/flow?filter=%s" % q(text) if channel == FLOW else
                    "/api/stream/ws?channels=%s&filter=%s" % (channel, q(text)))
            c = self.client(self.relay, path)
            err = recv_relay(c)["data"]
            self.assertEqual((err["type"], err["code"]), ("error", "bad_request"), err)
            self.assertIn(says, err["message"])
            c.close()
        g.send_json({"action": "subscribe", "channel": FLOW, "filter": 5})
        err = recv_relay(g)["data"]
        self.assertIn("filter must be a string", err["message"])
        # nothing got subscribed
        st = self.relay.status()
        self.assertEqual(st["total_subscriptions"], 0, st)
        self.assertEqual(st["filters"]["distinct"], 0)
        # an empty filter is no filter; a subscribe again replaces the filter
        g.send_json({"action": "subscribe", "channel": FLOW, "filter": ""})
        self.assertNotIn("filter", expect_subscribed(g, FLOW)["data"])
        g.send_json({"action": "subscribe", "channel": FLOW, "filter": "side:put"})
        self.assertEqual(expect_subscribed(g, FLOW)["data"]["filter"], "side:put")
        self.assertEqual(self.filters_status()["subscriptions"], 1)
        g.send_json({"action": "unsubscribe", "channel": FLOW})
        self.assertEqual(recv_relay(g)["data"]["type"], "unsubscribed")
        self.assertEqual(self.filters_status()["distinct"], 0)

    def test_resume_with_filter(self):
        """?since=&epoch=&filter= replays only the held frames the filter passes, then live."""
        self.start()
        live = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(live, FLOW)
        self.joined(FLOW)
        epoch = self.relay.status()["epoch"]
        self.sim.publish(FLOW, 60)
        first = recv_data(live, 60, channel=FLOW)
        text = "side:put"
        c = self.client(self.relay, "/api/stream/ws/flow?since=10&epoch=%s&filter=%s" % (epoch, text))
        sub = expect_subscribed(c, FLOW)["data"]
        self.assertEqual((sub["seq"], sub["filter"], sub["seq_jumps"]), (60, "side:put", True))
        want = [(e["seq"], raw) for e, raw in first if e["seq"] > 10 and passes(FLOW, text, e["data"])]
        self.assertTrue(0 < len(want) < 50, want)
        got = recv_data(c, len(want), channel=FLOW)
        self.assertEqual([(e["seq"], raw) for e, raw in got], want)
        self.sim.publish(FLOW, 40)
        more = recv_data(live, 40, channel=FLOW)
        want = [(e["seq"], raw) for e, raw in more if passes(FLOW, text, e["data"])]
        got = recv_data(c, len(want), channel=FLOW)
        self.assertEqual([(e["seq"], raw) for e, raw in got], want)
        self.assertIsNone(c.expect_nothing(0.2))
        # the same through a subscribe message
        g = self.client(self.relay, "/api/stream/ws")
        g.send_json({"action": "subscribe", "channel": FLOW, "since": 50, "epoch": epoch,
                     "filter": "side:call"})
        expect_subscribed(g, FLOW)
        want = [e["seq"] for e, _ in first + more if e["seq"] > 50 and passes(FLOW, "side:call", e["data"])]
        self.assertEqual([e["seq"] for e, _ in recv_data(g, len(want), channel=FLOW)], want)
        self.assertIsNone(g.expect_nothing(0.2))


if __name__ == "__main__":
    harness.main()
