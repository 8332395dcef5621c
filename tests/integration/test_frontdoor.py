"""The browser port's front door, tried with strict independent clients and as an attacker.

- every refusal is an HTTP/1.1 status with a JSON body that python-websockets (Debian's
  python3-websockets, run by /usr/bin/python3), Node's `ws` and curl read as such; 429 and 503
  carry Retry-After;
- request heads: 431 past the size limit, 400 / 501 / 505 / 413 for what the relay does not
  take, keep-alive, pipelining and HEAD;
- query arguments are exact: no prefix match, percent-decoding, a name given twice is a 400,
  and no token (or any piece of it) is ever echoed;
- RFC 6455 server rules: an unmasked client frame closes with 1002, pings count against the
  client's message budget, a strict client's close handshake completes with 1000;
- floods: stalled unfinished requests under a 256-descriptor limit leave the relay near idle and
  /healthz answering, and running out of descriptors does not spin.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import time

import harness
import wsclient
from harness import HOST, IntegrationTest, free_port, relay_config, wait_until

REPO = harness.REPO
SYS_PYTHON = "/usr/bin/python3"
NODE_MODULES = os.path.join(REPO, "tests", "browser", "node_modules")
TOKEN = "tok-" + "k7Qz9xW2mP4vN8rT"  # 20 characters

PY_STRICT = r"""
import asyncio, json, os, ssl, sys, websockets
async def main(url, headers):
    kw = {}
    if url.startswith("wss:"):
        kw["ssl"] = ssl.create_default_context(cafile=os.environ["CA_FILE"])
    try:
        async with websockets.connect(url, extra_headers=headers, open_timeout=5,
                                      close_timeout=2, **kw) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            await ws.close()
            print(json.dumps({"status": 101, "first": json.loads(first),
                              "close_code": ws.close_code}))
    except websockets.exceptions.InvalidStatusCode as e:
        print(json.dumps({"status": e.status_code, "headers": dict(e.headers)}))
asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""

NODE_STRICT = r"""
const WebSocket = require('ws');
const [url, headers] = [process.argv[1], JSON.parse(process.argv[2])];
const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
ws.on('unexpected-response', (req, res) => {
  let body = '';
  res.on('data', (d) => { body += d; });
  res.on('end', () => { console.log(JSON.stringify({ status: res.statusCode,
    version: res.httpVersion, headers: res.headers, body })); process.exit(0); });
});
ws.on('message', (m) => { ws.close(1000); ws.first = JSON.parse(m.toString()); });
ws.on('close', (code) => { console.log(JSON.stringify({ status: 101, first: ws.first,
  close_code: code })); process.exit(0); });
ws.on('error', (e) => { if (!String(e).includes('Unexpected server response')) {
  console.log(JSON.stringify({ error: String(e) })); process.exit(1); } });
"""


def py_strict(url, headers=None, ca_file=None):
    """python-websockets' view of an upgrade: {"status": ..., ...}."""
    env = dict(os.environ, CA_FILE=ca_file or "")
    p = subprocess.run([SYS_PYTHON, "-c", PY_STRICT, url, json.dumps(headers or {})],
                       capture_output=True, text=True, timeout=20, env=env)
    if p.returncode != 0 or not p.stdout.strip():
        raise AssertionError("python-websockets failed: %s %s" % (p.stdout, p.stderr[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def node_strict(url, headers=None):
    """Node ws' view of an upgrade."""
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    p = subprocess.run(["node", "-e", NODE_STRICT, url, json.dumps(headers or {})],
                       capture_output=True, text=True, timeout=20, env=env)
    if p.returncode != 0 or not p.stdout.strip():
        raise AssertionError("node ws failed: %s %s" % (p.stdout, p.stderr[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def status(relay):
    """/api/stream/status of a relay that wants the test token."""
    code, _, body = relay.get("/api/stream/status?access_token=" + TOKEN)
    assert code == 200, (code, body)
    return json.loads(body)


def wait_connected(relay):
    wait_until(lambda: status(relay)["status"] == "connected", 10, 0.02, "status connected")


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def masked(opcode, payload, fin=True):
    return wsclient.WSClient.frame_bytes(opcode, payload, fin)


def unmasked(opcode, payload):
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


def read_close(sock, timeout=5.0):
    """Reads frames until a close frame; returns its code (None for none), or 'eof'."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            hl = 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, hl = struct.unpack("!H", buf[2:4])[0], 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, hl = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < hl + ln:
                break
            payload, buf = buf[hl:hl + ln], buf[hl + ln:]
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return "eof"
        if not chunk:
            return "eof"
        buf += chunk
    return "timeout"


class FrontDoorTest(IntegrationTest):
    def url(self, relay, path):
        return "ws://%s:%d%s" % (HOST, relay.port, path)


class TestStrictClients(FrontDoorTest):
    def test_refusals_are_read_by_strict_clients(self):
        sim = self.start_sim()
        relay = self.start_relay(relay_config(free_port(), sim.url(), auth={"tokens": [TOKEN]},
                                              clients={"max_per_ip": 1}))
        wait_connected(relay)
        ok = "/api/stream/ws/flow?access_token=" + TOKEN
        cases = [
            ("/api/stream/ws/nowhere?access_token=" + TOKEN, {}, 404),
            ("/api/stream/ws/flow", {}, 401),
            ("/api/stream/ws/flow?access_token=wrong-token-0123456789", {}, 401),
            (ok, {"Origin": "https://evil.example"}, 403),
        ]
        for path, hdrs, want in cases:
            for who, fn in (("python-websockets", py_strict), ("node ws", node_strict)):
                got = fn(self.url(relay, path), hdrs)
                self.assertEqual(got.get("status"), want, "%s %s %s -> %r" % (who, path, hdrs, got))
            # and the raw answer: an HTTP/1.1 status line, a JSON body with the reason
            try:
                harness.ws_connect_ex(HOST, relay.port, path, headers=hdrs)
                self.fail("upgrade of %s accepted" % path)
            except wsclient.HandshakeRefused as e:
                self.assertEqual(e.status, want)
                self.assertIn("error", json.loads(e.body))
                self.assertNotIn(TOKEN, e.body.decode())
        # 429 with Retry-After: one connection from this address is the limit
        held = self.client(relay, ok)
        got = py_strict(self.url(relay, ok))
        self.assertEqual(got["status"], 429, got)
        self.assertIn("retry-after", {k.lower() for k in got["headers"]})
        got = node_strict(self.url(relay, ok))
        self.assertEqual((got["status"], got["version"]), (429, "1.1"), got)
        self.assertTrue(int(got["headers"]["retry-after"]) > 0)
        held.close()
        # a good upgrade: both read the subscribed notice and close with 1000
        wait_until(lambda: status(relay)["total_clients"] == 0, 5)
        for who, fn in (("python-websockets", py_strict), ("node ws", node_strict)):
            got = fn(self.url(relay, ok))
            self.assertEqual(got["status"], 101, (who, got))
            self.assertEqual(got["first"]["data"]["type"], "subscribed", (who, got))
            self.assertEqual(got["close_code"], 1000, (who, got))
            wait_until(lambda: status(relay)["total_clients"] == 0, 5)

    def test_503_and_426(self):
        sim = self.start_sim()
        relay = self.start_relay(relay_config(free_port(), sim.url(),
                                              clients={"max_connections": 1}))
        held = self.client(relay, "/api/stream/ws/flow")
        got = node_strict(self.url(relay, "/api/stream/ws/flow"))
        self.assertEqual(got["status"], 503, got)
        self.assertIn("retry-after", got["headers"])
        self.assertIn("max_connections", json.loads(got["body"])["error"])
        self.assertEqual(py_strict(self.url(relay, "/api/stream/ws/flow"))["status"], 503)
        held.close()
        sock = harness.open_socket(HOST, relay.port)
        sock.sendall(b"GET /api/stream/ws/flow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 8\r\n\r\n")
        head = sock.recv(4096)
        sock.close()
        self.assertTrue(head.startswith(b"HTTP/1.1 426 "), head)
        self.assertIn(b"Sec-WebSocket-Version: 13", head)


class TestTls(FrontDoorTest):
    def test_strict_clients_over_tls(self):
        """wss:// and https:// through the same front door: python-websockets and curl read the
        refusals and the answers, and a WebSocket closes cleanly with 1000."""
        cert, key = harness.make_cert(self.tmp, cn="localhost")
        sim = self.start_sim()
        relay = self.start_relay(relay_config(free_port(), sim.url(), auth={"tokens": [TOKEN]},
                                              listen={"tls": {"cert": cert, "key": key}}),
                                 wait_healthy=False)
        base = "localhost:%d" % relay.port

        def curl(path, *extra):
            p = subprocess.run(["curl", "-s", "--cacert", cert, "-w", "\n%{http_code} %{http_version}"]
                               + list(extra) + ["https://%s%s" % (base, path)],
                               capture_output=True, text=True, timeout=10)
            body, _, code = p.stdout.rpartition("\n")
            return code, body

        wait_until(lambda: curl("/healthz")[0] == "200 1.1", 15, 0.1, "https /healthz")
        code, body = curl("/api/stream/status")
        self.assertEqual(code, "401 1.1")
        self.assertIn("access token", json.loads(body)["error"])
        code, body = curl("/api/stream/status?access_token=" + TOKEN)
        self.assertEqual(code, "200 1.1")
        self.assertIn("uw_connection", json.loads(body))
        code, _ = curl("/healthz", "-H", "X-Big: " + "c" * 9000)
        self.assertEqual(code, "431 1.1")
        got = py_strict("wss://%s/api/stream/ws/flow" % base, ca_file=cert)
        self.assertEqual(got["status"], 401, got)
        got = py_strict("wss://%s/api/stream/ws/flow?access_token=%s" % (base, TOKEN), ca_file=cert)
        self.assertEqual((got["status"], got["close_code"]), (101, 1000), got)
        self.assertEqual(got["first"]["data"]["type"], "subscribed")
        self.assertTrue(relay.alive())


class TestRequestHeads(FrontDoorTest):
    def setUp(self):
        super().setUp()
        sim = self.start_sim()
        self.relay = self.start_relay(relay_config(free_port(), sim.url()))

    def exchange(self, data):
        return harness.raw_exchange(HOST, self.relay.port, data, timeout=5)

    def test_oversized_head_is_431(self):
        big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        got, closed = self.exchange(big)
        self.assertTrue(got.startswith(b"HTTP/1.1 431 "), got[:200])
        self.assertIn(b'"error"', got)
        self.assertTrue(closed)
        # curl reads it as 431 too
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                            "-H", "X-Big: " + "b" * 9000,
                            "http://127.0.0.1:%d/healthz" % self.relay.port],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.stdout, "431 1.1")
        # a big head within the limit is fine
        got, _ = self.exchange(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                               b"X-Big: " + b"a" * 7000 + b"\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:200])

    def test_what_is_not_taken(self):
        for data, status in (
                (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
                (b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
                (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413),
                (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
                (b"GET /healthz HTTP/1.1\r\n\r\n", 400),
                # a WebSocket key without the upgrade headers
                (b"GET /api/stream/ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: x\r\n\r\n", 400),
                (b"POST /api/stream/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
                (b"\x16\x03\x01\x00\xa5\x01\x00", 400)):
            got, closed = self.exchange(data)
            self.assertTrue(got.startswith(b"HTTP/1.1 %d " % status), "%r -> %r" % (data, got[:200]))
            body = got.split(b"\r\n\r\n", 1)[1]
            self.assertIn("error", json.loads(body), got)
            self.assertTrue(closed, data)
        self.assertEqual(self.relay.get_json("/healthz")["status"], "ok")
        self.assertGreaterEqual(self.relay.status()["connections"]["bad_requests"], 5)

    def test_keep_alive_pipelining_and_head(self):
        sock = harness.open_socket(HOST, self.relay.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     b"HEAD /api/stream/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     b"GET /api/stream/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        sock.settimeout(5)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        # three answers in order; the HEAD one has a Content-Length but no body
        first, rest = data.split(b"\r\n\r\n", 1)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "))
        self.assertIn(b"Connection: keep-alive", first)
        n = int([l for l in first.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                .split(b":")[1])
        self.assertEqual(json.loads(rest[:n])["status"], "ok")
        rest = rest[n:]
        second, rest = rest.split(b"\r\n\r\n", 1)
        self.assertTrue(second.startswith(b"HTTP/1.1 200 "), second)
        self.assertIn(b"Content-Length: ", second)
        third, rest = rest.split(b"\r\n\r\n", 1)
        self.assertTrue(third.startswith(b"HTTP/1.1 200 "), third)
        self.assertIn(b"Connection: close", third)
        self.assertIn("channels", json.loads(rest))


class TestQuery(FrontDoorTest):
    def setUp(self):
        super().setUp()
        self.sim = self.start_sim()
        self.relay = self.start_relay(relay_config(free_port(), self.sim.url(),
                                                   auth={"tokens": [TOKEN]}))
        wait_connected(self.relay)

    def status_of(self, path):
        return self.relay.get(path)[0]

    def test_names_are_exact(self):
        self.assertEqual(self.status_of("/api/stream/status?access_token=" + TOKEN), 200)
        # the prefix match lws did: a token hidden in another argument is no token
        self.assertEqual(self.status_of("/api/stream/status?aaaaaaaaaaaaa%s&access_token" % TOKEN), 401)
        self.assertEqual(self.status_of("/api/stream/status?x_access_token=" + TOKEN), 401)
        self.assertEqual(self.status_of("/api/stream/status?access_tokenX=" + TOKEN), 401)
        # percent-encoded names and values are decoded
        enc = "".join("%%%02X" % ord(ch) for ch in TOKEN)
        self.assertEqual(self.status_of("/api/stream/status?access%5Ftoken=" + enc), 200)
        # a name given twice, a broken escape: 400, never a guess
        self.assertEqual(self.status_of("/api/stream/status?access_token=%s&access_token=%s"
                                        % (TOKEN, TOKEN)), 400)
        self.assertEqual(self.status_of("/api/stream/status?access_token=%zz"), 400)
        self.assertEqual(self.status_of("/api/stream/status?access_token=%00" + TOKEN), 400)

    def test_no_token_fragment_in_any_answer(self):
        pieces = {TOKEN[i:i + 6] for i in range(len(TOKEN) - 5)}

        def clean(text, what):
            for p in pieces:
                self.assertNotIn(p, text, "%s holds a piece of the token: %r" % (what, text[:300]))

        for path in ("/api/stream/ws?access_token=%s&channels" % TOKEN,
                     "/api/stream/ws?channels=%s&access_token=%s" % (TOKEN, TOKEN),
                     "/api/stream/ws?access_token=%s&channels=flow-alerts,x%s" % (TOKEN, TOKEN),
                     "/api/stream/ws?access_token=%s&since=%s" % (TOKEN, TOKEN)):
            c = self.client(self.relay, path)
            got = []
            try:
                while True:
                    m = c.recv_text(timeout=0.5)
                    got.append(m.decode(errors="replace") if isinstance(m, bytes) else m)
            except Exception:
                pass
            c.close()
            clean("".join(got), path)
        for path in ("/api/stream/status?aaaa%s&access_token" % TOKEN,
                     "/api/stream/ws?access_token=%s%%zz" % TOKEN,
                     "/nowhere?access_token=" + TOKEN):
            status, hdrs, body = self.relay.get(path)
            clean(body.decode(errors="replace") + json.dumps(dict(hdrs)), path)
        clean(self.relay.log(), "the log")

    def test_channels_and_since_are_decoded(self):
        c = self.client(self.relay, "/api/stream/ws?access_token=%s&channels=flow-alerts%%2Cnews"
                        % TOKEN)
        subs = {harness.recv_relay(c)["data"]["channel"] for _ in range(2)}
        self.assertEqual(subs, {"flow-alerts", "news"})


class TestWebSocketRules(FrontDoorTest):
    def setUp(self):
        super().setUp()
        self.sim = self.start_sim()
        self.relay = self.start_relay(relay_config(free_port(), self.sim.url()))
        self.relay.wait_connected(10)

    def raw_ws(self, path="/api/stream/ws"):
        c = harness.ws_connect_ex(HOST, self.relay.port, path)
        return c

    def test_unmasked_frames_close_1002(self):
        for frame in (unmasked(0x1, b'{"action":"subscribe","channel":"news"}'),
                      unmasked(0x9, b"ping")):
            c = self.raw_ws()
            c.sock.sendall(frame)
            self.assertEqual(read_close(c.sock), 1002, frame)
            c.abort()
        self.assertTrue(self.relay.alive())
        wait_until(lambda: self.relay.status()["total_clients"] == 0, 5)

    def test_pings_count_against_the_budget(self):
        # clients.max_msg_rate 20/s, bursts of 40: 100 pings at once are too many
        c = self.raw_ws()
        c.sock.sendall(b"".join(masked(0x9, b"p%d" % i) for i in range(100)))
        self.assertEqual(read_close(c.sock), 1008)
        c.abort()
        # within the budget, each ping is answered with its payload
        c = self.client(self.relay, "/api/stream/ws")
        for i in range(5):
            c.send_ping(b"x%d" % i)
            while True:
                op, payload = c.recv(timeout=2)
                if op == wsclient.OP_PONG:
                    break
            self.assertEqual(payload, b"x%d" % i)


class TestFloods(FrontDoorTest):
    def start_limited(self, nofile, **over):
        """The relay under `prlimit --nofile=N:N`, through a wrapper given as UWRELAY_BIN."""
        wrapper = os.path.join(self.tmp, "uwrelay-limited")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec prlimit --nofile=%d:%d %s \"$@\"\n"
                    % (nofile, nofile, harness.relay_bin()))
        os.chmod(wrapper, 0o755)
        old = os.environ.get("UWRELAY_BIN")
        os.environ["UWRELAY_BIN"] = wrapper
        try:
            sim = self.start_sim()
            return self.start_relay(relay_config(free_port(), sim.url(), **over))
        finally:
            if old is None:
                del os.environ["UWRELAY_BIN"]
            else:
                os.environ["UWRELAY_BIN"] = old

    def healthz_time(self, relay):
        t0 = time.monotonic()
        status, _, _ = wsclient.http_get(HOST, relay.port, "/healthz", timeout=3)
        self.assertEqual(status, 200)
        return time.monotonic() - t0

    def test_stalled_requests_under_256_descriptors(self):
        relay = self.start_limited(256)
        pid = relay.proc.p.pid
        log_before = len(relay.log().splitlines())
        socks = []
        try:
            for i in range(400):
                s = socket.create_connection((HOST, relay.port), timeout=5)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Stall: %d\r\n" % i)
                socks.append(s)
            cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
            times = []
            for _ in range(10):
                times.append(self.healthz_time(relay))
                time.sleep(0.3)
            cpu = (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        finally:
            for s in socks:
                s.close()
        self.assertTrue(relay.alive())
        self.assertLess(max(times), 1.0, "healthz took %r" % times)
        self.assertLess(cpu, 0.2, "relay used %.0f %% of a core while flooded" % (cpu * 100))
        lines = len(relay.log().splitlines()) - log_before
        self.assertLess(lines, 40, relay.log()[-3000:])
        st = relay.status()["connections"]
        self.assertLessEqual(st["max_pending"], 128)
        self.assertGreater(st["evicted"], 0)
        print("\n  stalled flood: healthz max %.1f ms, relay CPU %.1f %%, %d log lines, "
              "evicted %d" % (max(times) * 1000, cpu * 100, lines, st["evicted"]))

    def test_out_of_descriptors_does_not_spin(self):
        relay = self.start_limited(128)
        pid = relay.proc.p.pid
        clients = []
        try:
            # WebSocket sessions until the relay has no descriptor left
            for _ in range(200):
                try:
                    clients.append(relay.ws("/api/stream/ws", timeout=2))
                except (OSError, wsclient.WSError):
                    break
            self.assertLess(len(clients), 128)
            extra = []
            for _ in range(50):   # they wait in the queue or are closed at once
                extra.append(socket.create_connection((HOST, relay.port), timeout=5))
            cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
            time.sleep(2)
            cpu = (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
            for s in extra:
                s.close()
            self.assertLess(cpu, 0.2, "relay used %.0f %% of a core without descriptors" % (cpu * 100))
            # descriptors free up: /healthz answers at once
            for c in clients[:10]:
                c.abort()
            def answers_fast():
                try:
                    return self.healthz_time(relay) < 1.0
                except OSError:	# still out of descriptors: closed at once
                    return False
            wait_until(answers_fast, 10, 0.05, "/healthz once descriptors are free")
            st = relay.status()["connections"]
            self.assertGreater(st["evicted"] + st["no_descriptor"] + st["accept_pauses"], 0, st)
        finally:
            for c in clients:
                c.abort()
        self.assertLess(relay.log().count("out of file descriptors"), 10, relay.log()[-3000:])
        print("\n  out of descriptors: %d sessions, relay CPU %.1f %%" % (len(clients), cpu * 100))


if __name__ == "__main__":
    harness.main()
