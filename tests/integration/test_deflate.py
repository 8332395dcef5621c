#!/usr/bin/env python3
"""permessage-deflate (RFC 7692) towards browsers: python-websockets and Node's ws negotiate it
and receive payloads byte-identical to an uncompressed client's; frames under
clients.compression.min_bytes go uncompressed; offers the relay cannot honour are declined;
compressed client messages are inflated within clients.max_message (a zip bomb closes 1009)."""

import json
import os
import shutil
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, recv_relay, wait_until  # noqa: E402

FLOW = "flow-alerts"
REPO = harness.REPO
TAIL = b"\x00\x00\xff\xff"
OFFER = "permessage-deflate; client_max_window_bits"

PY_CLIENT = r"""
import asyncio, json, sys, websockets
async def main(url, n):
    async with websockets.connect(url, max_size=None) as ws:
        print(json.dumps({"ext": ws.response_headers.get("Sec-WebSocket-Extensions")}), flush=True)
        for _ in range(n):
            print(await ws.recv(), flush=True)
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

NODE_CLIENT = r"""
const WebSocket = require('ws');
const [url, n] = [process.argv.at(-2), +process.argv.at(-1)];  // node -e: no script path
const ws = new WebSocket(url);
let got = 0;
ws.on('upgrade', (res) => console.log(JSON.stringify({ext: res.headers['sec-websocket-extensions'] || null})));
ws.on('message', (d) => { console.log(d.toString()); if (++got >= n) ws.close(); });
ws.on('error', (e) => { console.error(e); process.exit(1); });
"""


class ZClient(wsclient.WSClient):
    """wsclient's reader, with RSV1 frames inflated (a fresh context per message, as the
    relay's server_no_context_takeover promises) and the wire bytes counted."""

    def setup(self):
        self.rsv1 = []
        self.wire_bytes = 0
        return self

    def _read_frame(self, deadline):
        self._need(2, deadline)
        b0 = self._buf[self._pos]
        if b0 & 0x40:
            self._buf[self._pos] = b0 & ~0x40
        fin, op, payload = super()._read_frame(deadline)
        n = len(payload)
        self.wire_bytes += n + (2 if n < 126 else 4 if n < 65536 else 10)   # unmasked header
        if op in (wsclient.OP_TEXT, wsclient.OP_BINARY):
            self.rsv1.append(bool(b0 & 0x40))
        if b0 & 0x40:
            d = zlib.decompressobj(-15)
            payload = d.decompress(payload + TAIL)
        return fin, op, payload


def zclient(relay, path, offer=OFFER):
    c = harness.ws_connect_ex(HOST, relay.port, path,
                              headers={"Sec-WebSocket-Extensions": offer} if offer else None)
    c.__class__ = ZClient
    return c.setup()


def compressed_frame(data, rsv1=True):
    """A masked client text frame of data compressed as a browser does (raw deflate, sync
    flush, the 00 00 ff ff tail dropped), with RSV1 set."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    z = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(TAIL)
    f = bytearray(wsclient.WSClient.frame_bytes(wsclient.OP_TEXT, z[:-4]))
    if rsv1:
        f[0] |= 0x40
    return bytes(f)


class TestDeflate(harness.IntegrationTest):

    def start(self, **over):
        over.setdefault("clients", {})
        over["clients"].setdefault("max_msg_rate", 10000)
        self.sim, self.relay = self.sim_and_relay(**over)
        return self.sim, self.relay

    def need(self, path, what):
        if not path:
            if os.environ.get("CI") == "true":
                self.fail("%s is missing" % what)
            self.skipTest("%s is missing" % what)

    def test_strict_clients_negotiate_and_read_identical_payloads(self):
        """python-websockets (Debian's, /usr/bin/python3) and Node's ws negotiate the
        extension; every message they read equals the uncompressed client's, byte for byte."""
        py = "/usr/bin/python3"
        ok = os.access(py, os.X_OK) and subprocess.run(
            [py, "-c", "import websockets"], capture_output=True).returncode == 0
        self.need(ok, "python3-websockets for /usr/bin/python3")
        node = shutil.which("node")
        nm = os.path.join(REPO, "tests", "browser", "node_modules")
        self.need(node and os.path.isdir(os.path.join(nm, "ws")), "node and ws (npm ci in tests/browser)")
        self.start(clients={"compression": {"min_bytes": 1500}})
        plain = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(plain, FLOW)
        n = 30
        url = "ws://%s:%d/api/stream/ws/flow" % (HOST, self.relay.port)
        env = dict(os.environ, NODE_PATH=nm)
        procs = [subprocess.Popen([py, "-c", PY_CLIENT, url, str(n + 1)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE),
                 subprocess.Popen([node, "-e", NODE_CLIENT, url, str(n + 1)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)]
        for p in procs:
            self.addCleanup(lambda p=p: (p.kill(), p.wait()))
        try:
            wait_until(lambda: self.relay.status()["total_clients"] == 3, 10, msg="three subscribers")
        except AssertionError:
            for p in procs:
                p.kill()
            self.fail("the clients did not connect: %r" % [p.communicate() for p in procs])
        # big frames (compressed) and small ones (under min_bytes: plain), interleaved
        for k in range(n // 2):
            self.sim.publish(FLOW, 1, size=4000)
            self.sim.publish(FLOW, 1, size=100)
        want = [raw for _, raw in recv_data(plain, n, channel=FLOW)]
        self.assertTrue(any(len(w) < 1500 for w in want) and any(len(w) > 1500 for w in want))
        for p, name in zip(procs, ("python-websockets", "node ws")):
            out, err = p.communicate(timeout=20)
            self.assertEqual(p.returncode, 0, "%s: %s" % (name, err.decode()[-2000:]))
            lines = out.split(b"\n")
            ext = json.loads(lines[0])["ext"]
            self.assertIn("permessage-deflate", ext or "", name)
            self.assertIn("server_no_context_takeover", ext, name)
            msgs = [l for l in lines[1:] if l]
            self.assertEqual(json.loads(msgs[0])["data"]["type"], "subscribed", name)
            self.assertEqual(msgs[1:], want, name)

    def test_threshold_and_bytes_on_the_wire(self):
        """Frames of min_bytes and more go compressed (RSV1) and shrink; smaller ones go plain.
        Both read back as the uncompressed client's messages."""
        self.start(clients={"compression": {"min_bytes": 1500}})
        plain = self.client(self.relay, "/api/stream/ws/flow")
        z = zclient(self.relay, "/api/stream/ws/flow")
        self.assertEqual(z.headers.get("sec-websocket-extensions"),
                         "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        expect_subscribed(plain, FLOW)
        expect_subscribed(z, FLOW)
        z.rsv1.clear()
        for size in (4000, 100, 6000, 100):
            self.sim.publish(FLOW, 1, size=size)
        want = [raw for _, raw in recv_data(plain, 4, channel=FLOW)]
        before = z.wire_bytes
        got = [raw for _, raw in recv_data(z, 4, channel=FLOW)]
        self.assertEqual(got, want)
        self.assertEqual(z.rsv1, [len(w) >= 1500 for w in want], [len(w) for w in want])
        self.assertEqual(z.rsv1, [True, False, True, False])
        # fewer bytes on the wire (the simulator pads big alerts with random trade ids, which
        # compress less than real alerts: docs/BENCHMARKS.md measures those)
        self.assertLess(z.wire_bytes - before, 0.8 * sum(len(w) for w in want))

    def test_declined_offers_and_disabled(self):
        """No extension when the offer cannot be honoured, or compression is off; RSV1 from a
        client that did not negotiate is a protocol error."""
        self.start(clients={"compression": {"enabled": True}})
        for offer in ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; x=1",
                      "x-webkit-deflate-frame"):
            c = zclient(self.relay, "/api/stream/ws/flow", offer)
            self.assertNotIn("sec-websocket-extensions", c.headers, offer)
            c.abort()
        c = zclient(self.relay, "/api/stream/ws/flow", "permessage-deflate; server_max_window_bits=10")
        self.assertEqual(c.headers.get("sec-websocket-extensions"),
                         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                         "; server_max_window_bits=10")
        c.abort()
        plain = self.client(self.relay, "/api/stream/ws")
        plain.send_raw(compressed_frame(b'{"action":"subscribe","channel":"news"}'))
        with self.assertRaises(wsclient.WSClosed) as cm:
            while True:
                plain.recv(5)
        self.assertEqual(cm.exception.code, 1002)
        cfg = dict(self.relay.config)
        cfg["clients"] = dict(cfg["clients"], compression={"enabled": False})
        self.relay.reload(cfg)
        self.relay.wait_log("configuration reloaded")
        c = zclient(self.relay, "/api/stream/ws/flow")
        self.assertNotIn("sec-websocket-extensions", c.headers)

    def test_compressed_client_messages_and_zip_bomb(self):
        """A compressed subscribe works; one that inflates past clients.max_message (10 MB of
        zeros in ~10 KB) is closed with 1009 after at most max_message + 1 bytes of output."""
        self.start(clients={"max_message": 16384})
        c = zclient(self.relay, "/api/stream/ws")
        c.send_raw(compressed_frame(b'{"action":"subscribe","channel":"news"}'))
        sub = recv_relay(c)
        self.assertEqual((sub["data"]["type"], sub["data"]["channel"]), ("subscribed", "news"))
        bomb = compressed_frame(b"\0" * (10 << 20))
        self.assertLess(len(bomb), 16384)   # within max_message on the wire
        c.send_raw(bomb)
        with self.assertRaises(wsclient.WSClosed) as cm:
            while True:
                c.recv(5)
        self.assertEqual(cm.exception.code, 1009)
        # not deflate at all: 1007
        d = zclient(self.relay, "/api/stream/ws")
        f = bytearray(wsclient.WSClient.frame_bytes(wsclient.OP_TEXT, b"\xff\xff\xff\xff"))
        f[0] |= 0x40
        d.send_raw(bytes(f))
        with self.assertRaises(wsclient.WSClosed) as cm:
            while True:
                d.recv(5)
        self.assertEqual(cm.exception.code, 1007)
        self.assertTrue(self.relay.alive())


if __name__ == "__main__":
    harness.main()
