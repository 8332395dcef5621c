"""The Python client (clients/python/uwrelay_client) against the real relay and the simulator:
receiving, resume across an upstream cut, a dropped client link and a relay restart (the epoch
gap reported), the command line's NDJSON, and clear errors for a bad URL, 401 and 404. The
history() paging runs against a small stub HTTP server (the pages as the history API's contract
describes them).

The client needs python3-websockets, which Debian installs for /usr/bin/python3: run under
another python3, this file runs itself again under /usr/bin/python3.
"""

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse

SYS_PYTHON = "/usr/bin/python3"
try:
    import websockets  # noqa: F401
    HAVE_WS = True
except ImportError:
    HAVE_WS = False
    if os.path.exists(SYS_PYTHON) and os.path.realpath(sys.executable) != \
            os.path.realpath(SYS_PYTHON) and not os.environ.get("UWRELAY_PYCLIENT_REEXEC"):
        os.environ["UWRELAY_PYCLIENT_REEXEC"] = "1"
        os.execv(SYS_PYTHON, [SYS_PYTHON] + sys.argv)

import harness
from harness import HOST, IntegrationTest, free_port, relay_config, wait_until

CLIENT_DIR = os.path.join(harness.REPO, "clients", "python")
sys.path.insert(0, CLIENT_DIR)
if HAVE_WS:
    import websockets
    from uwrelay_client import Client, UwrelayError, backoff_delay

FLOW = "flow-alerts"
TOKEN = "pyclient-" + "Zr8Kq2Lm5Vx9Tb3N"


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def take(client, n, timeout=15):
    """The next n items of the client's iteration."""
    out = []
    while len(out) < n:
        out.append(await asyncio.wait_for(client.__anext__(), timeout))
    return out


async def until(pred, timeout=15, what="condition"):
    """Polls pred() on the running loop (the client works while this waits)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.02)


class PyClientTest(IntegrationTest):
    def setUp(self):
        if not HAVE_WS:
            self.fail("python3-websockets is not installed for %s (scripts/deps.sh --test)"
                      % SYS_PYTHON)
        super().setUp()

    def start(self, wait_connected=True, **over):
        # a long leave delay keeps the channel joined while the client is away, so frames
        # published then reach the relay's history and are resumed
        over.setdefault("upstream", {})["leave_delay"] = 60
        self.sim, self.relay = self.sim_and_relay(wait_connected=wait_connected, **over)
        self.base = "ws://%s:%d" % (HOST, self.relay.port)

    # ------------------------------------------------------------ receiving

    def test_receive_path_and_generic(self):
        self.start()

        async def main():
            async with Client(self.base + "/api/stream/ws/flow") as c:
                await until(lambda: c.last_seen(FLOW) is not None, what="subscribed")
                self.assertEqual(c.upstream, "connected")
                self.sim.publish(FLOW, 3)
                envs = await take(c, 3)
                self.assertEqual([e["seq"] for e in envs], [1, 2, 3])
                for e in envs:
                    self.assertEqual(e["channel"], FLOW)
                    self.assertRegex(e["epoch"], harness.EPOCH_RE)
                    self.assertEqual(json.loads(e.raw), dict(e))
                    self.assertIn("ticker", e["data"])
                self.assertEqual(c.last_seen(FLOW), (3, envs[0]["epoch"]))
                with self.assertRaises(UwrelayError):
                    await c.subscribe("price:SPY")     # a path endpoint is read-only

            async with Client(self.base + "/api/stream/ws", ["price:SPY"]) as g:
                await until(lambda: g.last_seen("price:SPY") is not None, what="price:SPY")
                await g.subscribe("gex:SPY")
                await until(lambda: g.last_seen("gex:SPY") is not None, what="gex:SPY")
                self.sim.publish("gex:SPY", 1)
                self.sim.publish("price:SPY", 1)
                got = await take(g, 2)
                self.assertEqual(sorted(e["channel"] for e in got), ["gex:SPY", "price:SPY"])
                await g.unsubscribe("price:SPY")
                self.assertEqual(g.channels, ["gex:SPY"])
                # price frames no longer arrive, gex ones do
                self.sim.publish("gex:SPY", 1)
                e = (await take(g, 1))[0]
                self.assertEqual((e["channel"], e["seq"]), ("gex:SPY", 2))
        run(main())

    # ------------------------------------------------------------ resume

    def test_resume_across_upstream_cut_and_dropped_link(self):
        self.start()
        raw = self.client(self.relay, "/api/stream/ws/flow")
        harness.expect_subscribed(raw, FLOW)
        notices = []

        async def main():
            c = Client(self.base + "/api/stream/ws/flow", on_notice=notices.append,
                       backoff=(0.2, 1.0, 0.1))
            async with c:
                await until(lambda: c.last_seen(FLOW) is not None, what="subscribed")
                self.sim.publish(FLOW, 2)
                self.assertEqual([e["seq"] for e in await take(c, 2)], [1, 2])

                # the relay's link to UW breaks and comes back: the client's socket stays
                # open, it is told, and seq carries on
                self.sim.ctl("cut")
                await until(lambda: any(n.get("type") == "upstream" and
                                        n.get("state") == "disconnected" for n in notices),
                            what="upstream disconnected notice")
                await until(lambda: c.upstream == "connected", what="upstream connected")
                self.sim.publish(FLOW, 2)
                self.assertEqual([e["seq"] for e in await take(c, 2)], [3, 4])
                self.assertEqual(c.stats["opens"], 1)

                # the client's own link drops; while it waits to reconnect three frames pass
                c.backoff = (30.0, 30.0, 0.0)
                c.reconnect_now()
                await until(lambda: c.state == "reconnecting", what="reconnecting")
                self.sim.publish(FLOW, 3)
                got = await asyncio.get_running_loop().run_in_executor(
                    None, harness.recv_data, raw, 7)
                self.assertEqual([e["seq"] for e, _ in got][-3:], [5, 6, 7])
                c.reconnect_now()                  # skip the 30 s wait
                envs = await take(c, 3)
                self.assertEqual([e["seq"] for e in envs], [5, 6, 7], "replayed, in order")
                self.assertEqual(c.stats["opens"], 2)
                self.sim.publish(FLOW, 1)
                self.assertEqual((await take(c, 1))[0]["seq"], 8)
                self.assertEqual(c.stats["duplicates"], 0)
                self.assertEqual(c.gaps, [])
        run(main())

    def test_resume_across_relay_restart_reports_epoch_gap(self):
        self.start()
        gaps = []

        async def main():
            c = Client(self.base + "/api/stream/ws", [FLOW], on_gap=gaps.append,
                       backoff=(0.2, 0.5, 0.1), notices=True)
            async with c:
                await until(lambda: c.last_seen(FLOW) is not None, what="subscribed")
                self.sim.publish(FLOW, 2)
                first = [e for e in await take(c, 3) if e["channel"] == FLOW]
                self.assertEqual([e["seq"] for e in first], [1, 2])
                old_epoch = first[0]["epoch"]

                await asyncio.get_running_loop().run_in_executor(None, self.relay.stop)
                await until(lambda: c.state == "reconnecting", what="reconnecting")
                self.relay = self.start_relay(self.relay.config, name="uwrelay-2")
                await asyncio.get_running_loop().run_in_executor(
                    None, self.relay.wait_connected, 15)
                await until(lambda: gaps, 20, "epoch gap notice")
                self.assertEqual(gaps[0]["channel"], FLOW)
                self.assertEqual(gaps[0]["reason"], "epoch")
                self.assertNotEqual(gaps[0]["epoch"], old_epoch)
                await until(lambda: c.last_seen(FLOW)[1] != old_epoch, what="new epoch")
                self.sim.publish(FLOW, 1)
                while True:   # the notices (subscribed, gap) come through the iteration too
                    e = (await take(c, 1))[0]
                    if e["channel"] == FLOW:
                        break
                    self.assertEqual(e["channel"], "$relay")
                self.assertEqual(e["seq"], 1)
                self.assertEqual(e["epoch"], gaps[0]["epoch"])
                self.assertEqual(c.stats["opens"], 2)
        run(main())

    # ------------------------------------------------------------ command line

    def cli(self, *args, env=None):
        e = dict(os.environ, PYTHONPATH=CLIENT_DIR, PYTHONDONTWRITEBYTECODE="1")
        e.pop("UWRELAY_TOKEN", None)
        e.update(env or {})
        return subprocess.Popen([SYS_PYTHON, "-m", "uwrelay_client"] + list(args), env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def cli_done(self, p, timeout=30):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("the CLI did not exit; stderr: %s" % err[-2000:])
        return p.returncode, out, err

    def test_cli_prints_ndjson(self):
        self.start()
        p = self.cli(self.base + "/api/stream/ws/flow", "--notices", "--count", "3")
        first = json.loads(p.stdout.readline())        # the subscribed notice: it listens now
        self.assertEqual(first["channel"], "$relay")
        self.assertEqual(first["data"]["type"], "subscribed")
        self.sim.publish(FLOW, 3)
        rc, out, err = self.cli_done(p)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out[:2000])
        envs = [json.loads(l) for l in lines]
        self.assertEqual([e["seq"] for e in envs], [1, 2, 3])
        self.assertEqual({e["channel"] for e in envs}, {FLOW})
        for e in envs:
            self.assertEqual(sorted(e), ["channel", "data", "epoch", "seq", "timestamp"])

        # --since resumes: the same three again from the relay's history, then exit
        rc, out, err = self.cli_done(self.cli(self.base + "/api/stream/ws/flow", "--since", "0",
                                              "--epoch", envs[0]["epoch"], "--count", "3"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), lines, "replayed byte for byte")

        # the generic endpoint with --channels
        p = self.cli(self.base, "--channels", "gex:SPY,price:SPY", "--notices", "--count", "2")
        subs = {json.loads(p.stdout.readline())["data"]["channel"] for _ in range(2)}
        self.assertEqual(subs, {"gex:SPY", "price:SPY"})
        self.sim.publish("gex:SPY", 1)
        self.sim.publish("price:SPY", 1)
        rc, out, err = self.cli_done(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(json.loads(l)["channel"] for l in out.splitlines()),
                         ["gex:SPY", "price:SPY"])

    def test_cli_errors_are_clear(self):
        self.start(auth={"tokens": [TOKEN]}, wait_connected=False)
        bearer = {"Authorization": "Bearer " + TOKEN}
        wait_until(lambda: json.loads(self.relay.get("/api/stream/status", bearer)[2])
                   ["status"] == "connected", 10, msg="relay connected")
        rc, out, err = self.cli_done(self.cli("ftp://127.0.0.1/x"))
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("bad URL ftp://127.0.0.1/x", err)
        self.assertNotIn("Traceback", err)

        wrong = "wrong-" + "Qm4Xt7Rw2Ls9Kd"
        rc, out, err = self.cli_done(self.cli(self.base + "/api/stream/ws/flow",
                                              env={"UWRELAY_TOKEN": wrong}))
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("HTTP 401", err)
        self.assertIn("access token", err)
        self.assertNotIn(wrong, err, "the token is never shown")
        self.assertNotIn("Traceback", err)

        # a token in the URL is masked in messages too
        rc, out, err = self.cli_done(self.cli(self.base + "/api/stream/ws/nope?access_token="
                                              + TOKEN))
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 404", err)
        self.assertNotIn(TOKEN, err)

        rc, out, err = self.cli_done(self.cli("ws://%s:%d/api/stream/ws/flow"
                                              % (HOST, free_port())))
        self.assertEqual(rc, 1)
        self.assertIn("cannot connect to", err)

        rc, out, err = self.cli_done(self.cli(self.base, "--epoch", "00"))
        self.assertEqual(rc, 2)
        self.assertIn("--epoch needs --since", err)

        # the right token (from the environment) gets in
        p = self.cli(self.base + "/api/stream/ws/flow", "--notices", "--count", "1",
                     env={"UWRELAY_TOKEN": TOKEN})
        self.assertEqual(json.loads(p.stdout.readline())["data"]["type"], "subscribed")
        self.sim.publish(FLOW, 1)
        rc, out, err = self.cli_done(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["seq"], 1)

    # ------------------------------------------------------------ gaps and filters (stub)

    def test_seq_jumps_are_gaps_unless_the_channel_is_filtered(self):
        """Against a stub relay (websockets.serve): a jump without a notice is reported as
        'skipped', a jump after the relay's own gap notice is not reported twice, and a channel
        whose `subscribed` notice says it is filtered jumps without a gap; the filter goes in the
        subscribe message."""
        E = "9f2c4a1be07d3e55"
        got_msgs = []

        def env(ch, seq):
            return json.dumps({"channel": ch, "seq": seq, "epoch": E,
                               "timestamp": "2026-11-25T14:30:00.123Z", "data": {}})

        def relay(**d):
            return json.dumps({"channel": "$relay", "epoch": E,
                               "timestamp": "2026-11-25T14:30:00.123Z", "data": d})

        async def handler(ws, path=None):
            for _ in range(2):
                m = json.loads(await ws.recv())
                got_msgs.append(m)
                filt = {"filter": m["filter"]} if "filter" in m else {}
                await ws.send(relay(type="subscribed", channel=m["channel"], seq=0,
                                    upstream="connected", **filt))
            for text in (env("news", 1), env("news", 4),
                         relay(type="gap", channel="news", reason="too_old", to=9, **{"from": 5}),
                         env("news", 10),
                         env("flow-alerts", 3), env("flow-alerts", 9), env("news", 11)):
                await ws.send(text)
            await ws.wait_closed()

        async def main():
            server = await websockets.serve(handler, HOST, 0)
            port = server.sockets[0].getsockname()[1]
            try:
                c = Client("ws://%s:%d/api/stream/ws" % (HOST, port),
                           filters={"flow-alerts": "tickers=SPY"})
                async with c:
                    await c.subscribe("news")
                    await c.subscribe("flow-alerts")
                    envs = await take(c, 6)
                    self.assertEqual([(e["channel"], e["seq"]) for e in envs],
                                     [("news", 1), ("news", 4), ("news", 10),
                                      ("flow-alerts", 3), ("flow-alerts", 9), ("news", 11)])
                    self.assertEqual([(g["channel"], g["reason"], g["from"], g["to"])
                                      for g in c.gaps],
                                     [("news", "skipped", 2, 3), ("news", "too_old", 5, 9)])
            finally:
                server.close()
                await server.wait_closed()
            self.assertEqual(got_msgs, [{"action": "subscribe", "channel": "news"},
                                        {"action": "subscribe", "channel": "flow-alerts",
                                         "filter": "tickers=SPY"}])
        run(main())

    # ------------------------------------------------------------ history (stub server)

    def test_history_follows_next_pages_up_to_limit(self):
        stub = HistoryStub(total=25)
        self.addCleanup(stub.close)
        c = Client("ws://%s:%d/api/stream/ws/flow" % (HOST, stub.port), token=TOKEN)

        envs = run(c.history(FLOW, since=3, epoch=HistoryStub.EPOCH, limit=12))
        self.assertEqual([e["seq"] for e in envs], list(range(4, 16)))
        # each page asked for what was still wanted, never more; the token went as a header
        self.assertEqual([int(q["limit"]) for q in stub.queries], [12, 7, 2])
        self.assertEqual(stub.queries[0]["since"], "3")
        self.assertEqual(stub.auth, {"Bearer " + TOKEN})

        stub.queries.clear()
        envs = run(c.history(FLOW, limit=1000))
        self.assertEqual([e["seq"] for e in envs], list(range(1, 26)), "stops when no more")
        self.assertEqual(len(stub.queries), 5)

        with self.assertRaises(UwrelayError) as cm:
            run(c.history(FLOW, since=3, epoch="0123456789abcdef"))
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("epoch_changed", str(cm.exception))
        with self.assertRaises(UwrelayError) as cm:
            run(c.history("nope"))
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(ValueError):
            run(c.history(FLOW, limit=0))

        # NDJSON keeps the stream's bytes; the JSON form is read too (a relay without NDJSON)
        self.assertTrue(all(q.get("format") == "ndjson" for q in stub.queries))
        self.assertTrue(all(e.raw.endswith('"price":1.50}}') for e in envs))
        stub.ndjson = False
        envs2 = run(c.history(FLOW, limit=1000))
        self.assertEqual(envs2, envs)
        self.assertEqual([e["seq"] for e in envs2], list(range(1, 26)))

        # the CLI's --history prints the lines as the relay sent them
        stub.ndjson = True
        rc, out, err = self.cli_done(self.cli("http://%s:%d" % (HOST, stub.port),
                                              "--history", FLOW, "--limit", "7"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), [e.raw for e in envs[:7]])

    def test_backoff_delay(self):
        self.assertEqual(backoff_delay(1, 0.5, 15, 0.2, r=0.5), 0.5)
        self.assertEqual(backoff_delay(3, 0.5, 15, 0.2, r=0.5), 2.0)
        self.assertEqual(backoff_delay(30, 0.5, 15, 0.2, r=0.5), 15.0)
        self.assertAlmostEqual(backoff_delay(1, 1.0, 15, 0.2, r=0.0), 0.8)


class HistoryStub:
    """GET /api/stream/history over `total` frames of flow-alerts, pages of at most 5 (fewer
    than asked for, as a relay reading its tape may answer), `next` as in the contract; NDJSON
    for format=ndjson (next in a Link header) unless `ndjson` is False."""

    EPOCH = "9f2c4a1be07d3e55"

    def __init__(self, total, ndjson=True):
        stub = self
        self.queries = []
        self.auth = set()
        self.ndjson = ndjson

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                stub.queries.append(q)
                stub.auth.add(self.headers.get("Authorization"))
                if u.path != "/api/stream/history" or q.get("channel") != FLOW:
                    return self.reply(404, {"error": "not_found", "message": "no such channel"})
                if q.get("epoch", stub.EPOCH) != stub.EPOCH:
                    return self.reply(409, {"error": "epoch_changed", "message": "restarted"})
                since = int(q.get("since", 0))
                want = min(int(q.get("limit", 1000)), 5)
                seqs = list(range(since + 1, total + 1))[:want]
                more = bool(seqs) and seqs[-1] < total
                nxt = "channel=%s&since=%d&epoch=%s" % (FLOW, seqs[-1], stub.EPOCH) if more else None
                # the stream's bytes: a number written as UW wrote it (1.50), which a JSON
                # round trip would change
                lines = ['{"channel":"%s","seq":%d,"epoch":"%s","timestamp":"2026-11-25T14:30:00.123Z",'
                         '"data":{"n":%d,"price":1.50}}' % (FLOW, s, stub.EPOCH, s) for s in seqs]
                if stub.ndjson and q.get("format") == "ndjson":
                    body = "".join(l + "\n" for l in lines).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    if nxt:
                        self.send_header("Link", '</api/stream/history?%s>; rel="next"' % nxt)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.reply(200, {"channel": FLOW, "envelopes": [json.loads(l) for l in lines],
                                 "more": more, "next": nxt})

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer((HOST, 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    harness.main()
