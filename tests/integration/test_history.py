#!/usr/bin/env python3
"""GET /api/stream/history (README, "History and replay"): by seq, by time, paging, NDJSON,
limits and errors, access rules; from memory alone and from the tape; and a WebSocket resume
older than memory served from the tape while live frames keep arriving."""

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, wait_until  # noqa: E402
from tapefile import Tape, iso_ms, ms_iso  # noqa: E402

FLOW = "flow-alerts"


class TestHistory(harness.IntegrationTest):

    def start(self, tape=False, token=None, tape_bytes=None, **over):
        over.setdefault("clients", {"max_msg_rate": 10000})
        over.setdefault("upstream", {"leave_delay": 0})
        self.tape_path = os.path.join(self.tmp, "tape.db") if tape else None
        if tape:
            over["tape"] = {"path": self.tape_path}
        if tape_bytes is not None:
            with open(self.tape_path, "wb") as f:
                f.write(tape_bytes)
        self.sim, self.relay = self.sim_and_relay(wait_connected=token is None, **over)
        self.live = self.client(self.relay, "/api/stream/ws/flow" +
                                ("?access_token=" + token if token else ""))
        expect_subscribed(self.live, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        if token:
            st, _, body = self.relay.get("/api/stream/status", {"Authorization": "Bearer " + token})
            self.epoch = json.loads(body)["epoch"]
        else:
            self.epoch = self.relay.status()["epoch"]
        self.raws = []

    def publish(self, n):
        self.sim.publish(FLOW, n)
        got = [raw for _, raw in recv_data(self.live, n, channel=FLOW)]
        self.raws += got
        return got

    def get(self, query, headers=None):
        return wsclient.http_get(HOST, self.relay.port, "/api/stream/history?" + query, headers)

    def get_ok(self, query, headers=None):
        st, hdrs, body = self.get(query, headers)
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(hdrs["content-type"], "application/json")
        return json.loads(body), body

    def envelopes(self, body):
        """The raw bytes of each envelope in a JSON answer, as sent (byte for byte)."""
        text = body.decode()
        i = text.index('"envelopes":[') + len('"envelopes":[')
        dec, raws = json.JSONDecoder(), []
        while text[i] != "]":
            _, end = dec.raw_decode(text, i)
            raws.append(text[i:end].encode())
            i = end + (text[end] == ",")
        return raws

    def follow(self, query):
        """Every envelope of every page, following next; returns (raws, pages)."""
        raws, pages = [], 0
        while query:
            doc, body = self.get_ok(query)
            raws += self.envelopes(body)
            pages += 1
            self.assertLess(pages, 100)
            if doc["more"]:
                self.assertIsNotNone(doc["next"])
            else:
                self.assertIsNone(doc["next"])
            query = doc["next"]
        return raws, pages

    # ---------------------------------------------------------------- memory only

    def test_memory_by_seq_paging_and_recent(self):
        self.start()
        self.publish(20)
        doc, body = self.get_ok("channel=flow-alerts")
        self.assertEqual(doc["channel"], FLOW)
        self.assertEqual(self.envelopes(body), self.raws, "not the stream's envelopes, byte for byte")
        self.assertEqual((doc["more"], doc["next"]), (False, None))
        doc, body = self.get_ok("channel=flow-alerts&since=15&epoch=" + self.epoch)
        self.assertEqual([e["seq"] for e in doc["envelopes"]], [16, 17, 18, 19, 20])
        self.assertFalse(doc["more"])
        doc, _ = self.get_ok("channel=flow-alerts&limit=4")
        self.assertEqual([e["seq"] for e in doc["envelopes"]], [17, 18, 19, 20], "the newest 4")
        doc, _ = self.get_ok("channel=flow-alerts&since=0&limit=3")
        self.assertEqual([e["seq"] for e in doc["envelopes"]], [1, 2, 3])
        self.assertTrue(doc["more"])
        self.assertEqual(doc["next"], "channel=flow-alerts&since=3&epoch=%s&limit=3" % self.epoch)
        raws, pages = self.follow("channel=flow-alerts&since=0&limit=3")
        self.assertEqual(raws, self.raws)
        self.assertEqual(pages, 7)
        doc, _ = self.get_ok("channel=flow-alerts&since=20")
        self.assertEqual((doc["envelopes"], doc["more"]), ([], False))
        # a channel the relay serves that has never had a frame
        doc, _ = self.get_ok("channel=news")
        self.assertEqual((doc["channel"], doc["envelopes"], doc["more"]), ("news", [], False))

    def test_memory_by_time(self):
        self.start()
        for _ in range(4):
            self.publish(5)
            time.sleep(0.03)  # spreads the receive times over a few ms steps
        ts = [iso_ms(json.loads(r)["timestamp"]) for r in self.raws]
        lo, hi = ts[5], ts[15]
        self.assertLess(lo, hi)
        want = [r for r, t in zip(self.raws, ts) if lo <= t < hi]
        q = "channel=flow-alerts&from=%s&to=%s" % (ms_iso(lo), ms_iso(hi))
        doc, body = self.get_ok(q)
        self.assertEqual(self.envelopes(body), want)
        raws, _ = self.follow(q + "&limit=2")
        self.assertEqual(raws, want, "time range paged with limit=2")
        # from alone: up to now; an offset zone means the same instant
        doc, body = self.get_ok("channel=flow-alerts&from=" + urllib.parse.quote(
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(lo // 1000 + 3600)) +
            ".%03d+01:00" % (lo % 1000)))
        self.assertEqual(self.envelopes(body), [r for r, t in zip(self.raws, ts) if t >= lo])

    def test_ndjson(self):
        self.start()
        self.publish(5)
        for q, h in (("channel=flow-alerts&format=ndjson&since=0&limit=2", None),
                     ("channel=flow-alerts&since=0&limit=2", {"Accept": "application/x-ndjson"})):
            st, hdrs, body = self.get(q, h)
            self.assertEqual(st, 200)
            self.assertEqual(hdrs["content-type"], "application/x-ndjson")
            self.assertEqual(body.split(b"\n"), self.raws[:2] + [b""])
            self.assertIn('rel="next"', hdrs["link"])
            nxt = hdrs["link"][hdrs["link"].index("<") + 1:hdrs["link"].index(">")]
            self.assertTrue(nxt.startswith("/api/stream/history?"), nxt)
            st, hdrs, body = wsclient.http_get(HOST, self.relay.port, nxt,
                                               {"Accept": "application/x-ndjson"})
            self.assertEqual(body.split(b"\n"), self.raws[2:4] + [b""])
        st, hdrs, body = self.get("channel=flow-alerts&format=ndjson")
        self.assertEqual(body.split(b"\n"), self.raws + [b""])
        self.assertNotIn("link", hdrs, "no next page: no Link header")

    def test_errors(self):
        self.start()
        self.publish(2)
        cases = [
            ("", 400, "bad_request"),
            ("channel=flow-alerts&limit=0", 400, "bad_request"),
            ("channel=flow-alerts&limit=10001", 400, "bad_request"),
            ("channel=flow-alerts&limit=ten", 400, "bad_request"),
            ("channel=flow-alerts&since=-1", 400, "bad_request"),
            ("channel=flow-alerts&since=1&since=2", 400, "bad_request"),
            ("channel=flow-alerts&since=1&epoch=xyz", 400, "bad_request"),
            ("channel=flow-alerts&from=yesterday", 400, "bad_request"),
            ("channel=flow-alerts&from=2026-02-30T00:00:00Z", 400, "bad_request"),
            ("channel=flow-alerts&from=2026-12-03T10:00:00Z&to=2026-12-03T09:00:00Z", 400,
             "bad_request"),
            ("channel=flow-alerts&format=xml", 400, "bad_request"),
            ("channel=not%20a%20channel", 404, "unknown_channel"),
            ("channel=not_served_here", 403, "channel_not_allowed"),
        ]
        for q, status, code in cases:
            st, hdrs, body = self.get(q)
            self.assertEqual(st, status, "%s -> %d %r" % (q, st, body))
            doc = json.loads(body)
            self.assertEqual(doc["error"], code, q)
            self.assertTrue(doc["message"], q)
        other = "0123456789abcdef" if self.epoch != "0123456789abcdef" else "fedcba9876543210"
        st, _, body = self.get("channel=flow-alerts&since=1&epoch=" + other)
        self.assertEqual(st, 409)
        doc = json.loads(body)
        self.assertEqual((doc["error"], doc["epoch"]), ("epoch_changed", self.epoch))
        doc, _ = self.get_ok("channel=flow-alerts&limit=10000")
        self.assertEqual(len(doc["envelopes"]), 2, "limit 10000 is allowed")

    def test_access_rules(self):
        self.start(token="s3cret-history-token", auth={"tokens": ["s3cret-history-token"]})
        self.publish(3)
        st, _, body = self.get("channel=flow-alerts")
        self.assertEqual(st, 401, body)
        self.assertNotIn(b"s3cret", body)
        doc, _ = self.get_ok("channel=flow-alerts", {"Authorization": "Bearer s3cret-history-token"})
        self.assertEqual(len(doc["envelopes"]), 3)
        st, _, _ = self.get("channel=flow-alerts&access_token=s3cret-history-token")
        self.assertEqual(st, 200)
        st, _, _ = self.get("channel=flow-alerts&access_token=s3cret-history-token",
                            {"Origin": "https://evil.example"})
        self.assertEqual(st, 403, "a foreign Origin is refused")
        st, _, _ = self.get("channel=flow-alerts&access_token=s3cret-history-token",
                            {"Host": "evil.example"})
        self.assertEqual(st, 421)

    def test_cors_for_allowed_origin(self):
        self.start(clients={"max_msg_rate": 10000, "allowed_origins": ["http://localhost:3000"]},
                   tape=True)
        self.publish(3)
        Tape(self.tape_path, self.epoch).add_envelopes(self.raws)
        for q in ("channel=flow-alerts", "channel=flow-alerts&since=0&limit=10"):
            st, hdrs, _ = self.get(q, {"Origin": "http://localhost:3000"})
            self.assertEqual(st, 200)
            self.assertEqual(hdrs.get("access-control-allow-origin"), "http://localhost:3000")

    # ---------------------------------------------------------------- with a tape

    def test_tape_serves_what_memory_dropped(self):
        self.start(tape=True, history={"size": 5})
        for _ in range(8):
            self.publish(5)
            time.sleep(0.03)  # spreads the receive times
        tape = Tape(self.tape_path, self.epoch)
        # the recorder is a batch behind: the tape lacks the newest frames, memory has them
        tape.add_envelopes(self.raws[:37])
        tape.close()
        doc, body = self.get_ok("channel=flow-alerts&since=0&limit=100")
        self.assertEqual(self.envelopes(body), self.raws, "tape (1-37) + memory (36-40), no seam")
        self.assertFalse(doc["more"])
        raws, pages = self.follow("channel=flow-alerts&since=0&limit=7")
        self.assertEqual(raws, self.raws)
        self.assertEqual(pages, 6)
        doc, body = self.get_ok("channel=flow-alerts&limit=12")
        self.assertEqual(self.envelopes(body), self.raws[-12:], "the newest 12: tape + memory")
        ts = [iso_ms(json.loads(r)["timestamp"]) for r in self.raws]
        lo, hi = ts[3], ts[30]
        self.assertLess(lo, hi)
        want = [r for r, t in zip(self.raws, ts) if lo <= t < hi]
        q = "channel=flow-alerts&from=%s&to=%s&limit=9" % (ms_iso(lo), ms_iso(hi))
        raws, _ = self.follow(q)
        self.assertEqual(raws, want)
        st, hdrs, body = self.get("channel=flow-alerts&since=10&limit=5&format=ndjson")
        self.assertEqual(hdrs["content-type"], "application/x-ndjson")
        self.assertEqual(body.split(b"\n"), self.raws[10:15] + [b""])
        self.assertIn("since=15", hdrs["link"])

    def test_tape_not_readable(self):
        # the recorder refuses such a file and leaves it as it is; the reader cannot read it
        junk = b"this is not a SQLite database" * 100
        self.start(tape=True, history={"size": 2}, tape_bytes=junk)
        self.publish(5)
        st, _, body = self.get("channel=flow-alerts&since=0")
        self.assertEqual(st, 503, body)
        self.assertEqual(json.loads(body)["error"], "tape_unavailable")
        # memory still answers what it holds
        doc, _ = self.get_ok("channel=flow-alerts&since=3")
        self.assertEqual([e["seq"] for e in doc["envelopes"]], [4, 5])
        self.assertTrue(self.relay.alive())
        with open(self.tape_path, "rb") as f:
            self.assertEqual(f.read(), junk, "the file was left untouched")

    def test_client_gone_mid_query(self):
        self.start(tape=True, history={"size": 2})
        self.publish(50)
        Tape(self.tape_path, self.epoch).add_envelopes(self.raws)
        for _ in range(30):
            s = harness.open_socket(HOST, self.relay.port)
            s.sendall(b"GET /api/stream/history?channel=flow-alerts&since=0 HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\n\r\n")
            s.close()
        doc, body = self.get_ok("channel=flow-alerts&since=0")
        self.assertEqual(self.envelopes(body), self.raws)
        self.assertTrue(self.relay.alive())

    def test_resume_from_tape_while_live(self):
        self.start(tape=True, history={"size": 20})
        self.publish(300)
        tape = Tape(self.tape_path, self.epoch)
        tape.add_envelopes(self.raws)
        tape.close()
        stop = threading.Event()

        def feed():
            while not stop.is_set():
                self.sim.publish(FLOW, 5)
                time.sleep(0.005)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        try:
            c = self.client(self.relay, "/api/stream/ws/flow?since=0&epoch=" + self.epoch)
            expect_subscribed(c, FLOW)
            got = recv_data(c, 500, channel=FLOW, timeout=30)
        finally:
            stop.set()
            t.join(5)
        seqs = [e["seq"] for e, _ in got]
        self.assertEqual(seqs, list(range(1, 501)), "no gap, no duplicate, in order")
        for (e, raw), old in zip(got, self.raws):
            self.assertEqual(raw, old, "seq %d differs from the live envelope" % e["seq"])

    def test_resume_gap_when_tape_lacks_frames(self):
        self.start(tape=True, history={"size": 5})
        self.publish(30)
        tape = Tape(self.tape_path, self.epoch)
        tape.add_envelopes(self.raws[10:])   # seqs 11.. only
        tape.close()
        c = self.client(self.relay, "/api/stream/ws/flow?since=2&epoch=" + self.epoch)
        expect_subscribed(c, FLOW)
        gap = harness.recv_relay(c)["data"]
        self.assertEqual((gap["type"], gap["reason"], gap["from"], gap["to"]), ("gap", "too_old", 3, 10))
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 20, channel=FLOW)], list(range(11, 31)))
        self.publish(1)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 1, channel=FLOW)], [31])


if __name__ == "__main__":
    harness.main()
