#!/usr/bin/env python3
"""Server-Sent Events (/api/stream/sse): the same envelopes as the WebSocket path, as
text/event-stream, with id: EPOCH:SEQ, resume by Last-Event-ID, gap events, heartbeats, the
slow-consumer bound, access rules and caps, and curl -N."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sseclient  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"


class TestSSE(harness.IntegrationTest):

    def start(self, **over):
        over.setdefault("clients", {})
        over["clients"].setdefault("max_msg_rate", 10000)
        self.sim, self.relay = self.sim_and_relay(**over)
        return self.sim, self.relay

    def sse(self, path, headers=None, **kw):
        c = sseclient.connect(HOST, self.relay.port, path, headers, **kw)
        self._clients.append(c)
        return c

    def live_ws(self):
        """A WebSocket subscriber of flow-alerts that keeps the channel joined."""
        ws = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(ws, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        return ws

    def test_events_carry_the_websocket_envelopes(self):
        """Answer head, the subscribed notice as a named event, then one event per frame whose
        data is byte for byte the WebSocket message and whose id is EPOCH:SEQ."""
        self.start()
        ws = self.live_ws()
        c = self.sse("/api/stream/sse/flow")
        self.assertEqual(c.status, 200)
        self.assertEqual(c.headers.get("content-type"), "text/event-stream")
        self.assertNotIn("content-length", c.headers)
        self.assertEqual(c.headers.get("cache-control"), "no-store")
        sub = c.next_event()
        self.assertEqual(sub["event"], "subscribed")
        self.assertEqual(json.loads(sub["data"])["data"]["channel"], FLOW)
        self.assertEqual(sub["id"], "", "a notice carries no id")
        epoch = self.relay.status()["epoch"]
        self.sim.publish(FLOW, 5)
        want = [raw for _, raw in recv_data(ws, 5, channel=FLOW)]
        got = c.events(5, kind="message")
        self.assertEqual([e["data"].encode() for e in got], want)
        self.assertEqual([e["id"] for e in got], ["%s:%d" % (epoch, k) for k in range(1, 6)])
        # framing: each event is "id: ...\ndata: ...\n\n", nothing else
        body = c.raw.decode()
        self.assertIn("\n\nid: %s:1\ndata: {" % epoch, body)
        self.assertNotIn("\r", body)

    def test_endpoint_by_id_generic_and_unknown(self):
        self.start()
        self.live_ws()
        by_id = self.sse("/api/stream/sse/flow-alerts")
        self.assertEqual(json.loads(by_id.next_event()["data"])["data"]["channel"], FLOW)
        gen = self.sse("/api/stream/sse?channels=flow-alerts,news")
        subs = sorted(json.loads(e["data"])["data"]["channel"] for e in gen.events(2, kind="subscribed"))
        self.assertEqual(subs, [FLOW, "news"])
        self.sim.publish(FLOW, 1)
        self.assertEqual(json.loads(gen.events(1, kind="message")[0]["data"])["seq"], 1)
        for path in ("/api/stream/sse/nope", "/api/stream/sse/flow/x", "/api/stream/sse/"):
            st, _, body = self.relay.get(path)
            self.assertEqual(st, 404, path)
            self.assertIn(b"error", body)
        # a bad channel on the generic stream: an error event, the stream stays
        bad = self.sse("/api/stream/sse?channels=no_such_thing")
        ev = bad.next_event()
        self.assertEqual(ev["event"], "error")
        self.assertEqual(json.loads(ev["data"])["data"]["code"], "channel_not_allowed")

    def test_multiline_payload_becomes_several_data_lines(self):
        """A payload with line breaks (here pretty-printed JSON from upstream) is sent as one
        data: line per line; joined with LF as the standard says, it is the WebSocket message."""
        self.start()
        ws = self.live_ws()
        c = self.sse("/api/stream/sse/flow")
        c.events(1, kind="subscribed")
        text = b'["flow-alerts", {\n  "ticker": "SPY",\r\n  "note": "a\\nb"\n}]'
        # a hand-made text frame (/ctl/send's query argument cannot carry a line break)
        self.sim.ctl("raw", hex=(bytes([0x81, len(text)]) + text).hex())
        (env, raw), = recv_data(ws, 1, channel=FLOW)
        self.assertIn(b"\n", raw)
        ev = c.events(1, kind="message")[0]
        # CRLF, CR and LF all end an SSE line: the data reads back with LF for each
        self.assertEqual(ev["data"].encode(), raw.replace(b"\r\n", b"\n"))
        self.assertEqual(json.loads(ev["data"]), env)
        self.assertEqual(env["data"]["ticker"], "SPY")
        self.assertIn('data:   "ticker": "SPY",\ndata:   "note": "a\\nb"\n', c.raw.decode())

    def test_last_event_id_resumes(self):
        """An EventSource that reconnects sends Last-Event-ID: the relay replays what it missed
        from history, then goes on live, with no gap and no duplicate; the id wins over a
        ?since= left in the URL."""
        self.start()
        ws = self.live_ws()
        c = self.sse("/api/stream/sse/flow?since=0")
        c.events(1, kind="subscribed")
        self.sim.publish(FLOW, 4)
        got = c.events(4, kind="message")
        last = got[-1]["id"]
        c.close()
        self.sim.publish(FLOW, 6)
        recv_data(ws, 10, channel=FLOW)
        c2 = self.sse("/api/stream/sse/flow?since=0", headers={"Last-Event-ID": last})
        self.assertEqual(c2.status, 200)
        replay = c2.events(6, kind="message")
        self.assertEqual([json.loads(e["data"])["seq"] for e in replay], list(range(5, 11)))
        self.sim.publish(FLOW, 2)
        self.assertEqual([json.loads(e["data"])["seq"] for e in c2.events(2, kind="message")], [11, 12])
        # ?since=&epoch= works as on the WebSocket path
        epoch = self.relay.status()["epoch"]
        c3 = self.sse("/api/stream/sse/flow?since=9&epoch=%s" % epoch)
        self.assertEqual([json.loads(e["data"])["seq"] for e in c3.events(3, kind="message")],
                         [10, 11, 12])

    def test_gap_events(self):
        """What cannot be resumed is said as a gap event: another epoch, frames no longer held,
        and a Last-Event-ID on a stream of several channels."""
        self.start(history={"size": 5})
        ws = self.live_ws()
        self.sim.publish(FLOW, 10)
        recv_data(ws, 10, channel=FLOW)
        other = self.sse("/api/stream/sse/flow", headers={"Last-Event-ID": "0123456789abcdef:3"})
        gap = json.loads(other.events(1, kind="gap")[0]["data"])["data"]
        self.assertEqual((gap["channel"], gap["reason"]), (FLOW, "epoch"))
        epoch = self.relay.status()["epoch"]
        old = self.sse("/api/stream/sse/flow", headers={"Last-Event-ID": "%s:2" % epoch})
        gap = json.loads(old.events(1, kind="gap")[0]["data"])["data"]
        self.assertEqual((gap["reason"], gap["from"], gap["to"]), ("too_old", 3, 5))
        self.assertEqual([json.loads(e["data"])["seq"] for e in old.events(5, kind="message")],
                         [6, 7, 8, 9, 10])
        multi = self.sse("/api/stream/sse?channels=flow-alerts,news",
                         headers={"Last-Event-ID": "%s:8" % epoch})
        gaps = [json.loads(e["data"])["data"] for e in multi.events(2, kind="gap")]
        self.assertEqual(sorted(g["channel"] for g in gaps), [FLOW, "news"])
        self.assertEqual({g["reason"] for g in gaps}, {"resume_ambiguous"})
        # a malformed Last-Event-ID is refused
        for bad in ("12", "%s:x" % epoch, "%s:1" % epoch.upper()):
            st, _, body = self.relay.get("/api/stream/sse/flow", headers={"Last-Event-ID": bad})
            self.assertEqual(st, 400, bad)
            self.assertIn(b"Last-Event-ID", body)

    def test_heartbeat_comments(self):
        self.start(clients={"sse_heartbeat": 0.2})
        c = self.sse("/api/stream/sse/flow")
        c.events(1, kind="subscribed")
        t0 = time.monotonic()
        wait_until(lambda: self._hb(c) >= 2, 5, msg="two heartbeats")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn(b"\n: hb\n\n", c.raw)

    @staticmethod
    def _hb(c):
        try:
            c.next_event(0.05)
        except TimeoutError:
            pass
        return c.comments.count(" hb")

    def test_slow_consumer_closed(self):
        """A stream that stops reading is cut at clients.max_queue_bytes like a WebSocket: its
        last event says code 4001, and a fast subscriber gets everything."""
        self.start(clients={"max_queue_bytes": 262144})
        fast = self.live_ws()
        slow = self.sse("/api/stream/sse/flow", rcvbuf=8192)
        slow.events(1, kind="subscribed")
        sent = 0
        # bounded: at most 16 MB before the relay must have cut it
        while self.relay.status()["slow_consumers_closed"] < 1 and sent < 8000:
            self.sim.publish(FLOW, 50, size=2000)
            sent += 50
            recv_data(fast, 50, channel=FLOW, timeout=20)
        self.assertGreaterEqual(self.relay.status()["slow_consumers_closed"], 1)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        body = slow.read_to_end(15).decode()
        self.assertTrue(body.endswith("\n\n"))
        last = body.rstrip("\n").rsplit("\n\n", 1)[-1]
        self.assertTrue(last.startswith("event: close\ndata: "), last[:200])
        self.assertEqual(json.loads(last.split("data: ", 1)[1])["code"], 4001)
        wait_until(lambda: self.relay.status()["total_clients"] == 1, 5, msg="the stream is gone")

    def test_access_rules(self):
        """Host, Origin and tokens decide as for the WebSocket path; a listed origin gets CORS."""
        token = "sse-test-token-0123456789"
        self.start(auth={"tokens": [token]}, wait_connected=False,
                   clients={"allowed_origins": ["http://localhost:3000"]})
        st, _, _ = self.relay.get("/api/stream/sse/flow")
        self.assertEqual(st, 401)
        st, _, _ = self.relay.get("/api/stream/sse/flow?access_token=wrong-token-0123456789")
        self.assertEqual(st, 401)
        st, _, _ = self.relay.get("/api/stream/sse/flow", headers={
            "Authorization": "Bearer " + token, "Origin": "http://evil.example"})
        self.assertEqual(st, 403)
        st, _, _ = self.relay.get("/api/stream/sse/flow", headers={
            "Authorization": "Bearer " + token, "Host": "evil.example"})
        self.assertEqual(st, 421)
        c = self.sse("/api/stream/sse/flow?access_token=" + token,
                     headers={"Origin": "http://localhost:3000"})
        self.assertEqual(c.status, 200)
        self.assertEqual(c.headers.get("access-control-allow-origin"), "http://localhost:3000")
        self.assertEqual(c.next_event()["event"], "subscribed")
        self.assertNotIn(token, self.relay.log())

    def test_caps(self):
        """clients.max_connections and max_per_ip count SSE streams and WebSockets together;
        ?channels= is held to max_channels; only GET and HEAD are served."""
        self.start(clients={"max_connections": 3, "max_channels": 2})
        self.sse("/api/stream/sse/flow").events(1, kind="subscribed")
        self.sse("/api/stream/sse/flow").events(1, kind="subscribed")
        self.client(self.relay, "/api/stream/ws/flow")
        wait_until(lambda: self.relay.status()["total_clients"] == 3, 5)
        st, hdrs, _ = self.relay.get("/api/stream/sse/flow")
        self.assertEqual(st, 503)
        st, _, body = self.relay.get("/api/stream/sse?channels=a,b,c")
        self.assertEqual(st, 503)  # full, before the query is looked at
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            self.relay.ws("/api/stream/ws/flow")
        self.assertEqual(cm.exception.status, 503)

    def test_limits_on_query_and_method(self):
        self.start(clients={"max_per_ip": 1, "max_channels": 2})
        st, _, body = self.relay.get("/api/stream/sse?channels=a,b,c")
        self.assertEqual(st, 400)
        self.assertIn(b"max_channels", body)
        st, _, _ = self.relay.get("/api/stream/sse?channels=a&channels=b")
        self.assertEqual(st, 400)
        self.sse("/api/stream/sse/flow").events(1, kind="subscribed")
        st, _, _ = self.relay.get("/api/stream/sse/flow")
        self.assertEqual(st, 429)
        raw, _ = harness.raw_exchange(HOST, self.relay.port,
                                   b"POST /api/stream/sse/flow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 405"), raw[:100])

    def test_curl_prints_the_live_feed(self):
        curl = shutil.which("curl")
        if not curl:
            if os.environ.get("CI") == "true":
                self.fail("curl is missing (apt-get install curl)")
            self.skipTest("curl is missing")
        self.start()
        self.live_ws()
        p = subprocess.Popen([curl, "-N", "-s", "--max-time", "20",
                              "http://%s:%d/api/stream/sse/flow" % (HOST, self.relay.port)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        lines = []
        done = threading.Event()

        def read():
            for line in iter(p.stdout.readline, b""):
                lines.append(line.decode())
                if sum(l.startswith('data: {"channel":"flow-alerts"') for l in lines) >= 3:
                    done.set()
                    return
        threading.Thread(target=read, daemon=True).start()
        wait_until(lambda: any(l.startswith("event: subscribed") for l in lines), 10,
                   msg="curl shows the subscribed event")
        self.sim.publish(FLOW, 3)
        self.assertTrue(done.wait(10), "curl printed: %r" % lines)
        datas = [json.loads(l[6:]) for l in lines if l.startswith("data: ")]
        self.assertEqual([d["seq"] for d in datas if d["channel"] == FLOW], [1, 2, 3])

    def test_upstream_notice_and_shutdown(self):
        """UW's link going down is an upstream event; a relay stopping ends each stream with
        a close event (1001) so EventSource reconnects."""
        self.start()
        c = self.sse("/api/stream/sse/flow")
        c.events(1, kind="subscribed")
        self.sim.ctl("cut")
        up = json.loads(c.events(1, kind="upstream")[0]["data"])["data"]
        self.assertEqual(up["state"], "disconnected")
        self.relay.stop()
        body = c.read_to_end(10).decode()
        self.assertIn('event: close\ndata: {"code":1001', body)


if __name__ == "__main__":
    harness.main()
