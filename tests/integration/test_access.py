#!/usr/bin/env python3
"""Who may use the relay: subscriber tokens, allowed origins, connection limits, the listen
address, the TLS listener, and bytes on the port that are not HTTP."""

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"
# 16+ printable characters; '+', '/' and '=' (base64-ish) must be percent-encoded in a URL
TOKEN = "subTok_9f2c4a1b+e07d/3e55=QZ"
TOKEN2 = "second-subscriber-token-0123456789"
WRONG = "subTok_9f2c4a1b+e07d/3e55=QY"


def token_forms(tok):
    """Every way the token could show up in a log line: raw, percent-encoded (upper and lower
    case hex, '+' for space style), and its longest run of plain characters."""
    q = urllib.parse.quote(tok, safe="")
    forms = {tok, q, q.lower(), urllib.parse.quote_plus(tok), urllib.parse.quote(tok, safe="/"),
             tok.replace("+", " ")}
    forms.add(max("".join(c if c.isalnum() or c in "-_" else " " for c in tok).split(), key=len))
    return sorted(forms)


def run_relay_cmd(args, timeout=10):
    e = dict(os.environ)
    e.pop("UW_API_TOKEN", None)
    e.pop("UW_KEY", None)
    p = subprocess.run([harness.relay_bin()] + args, env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def client_hello():
    """The first flight of a real TLS client (a ClientHello record), as bytes."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[:1] == b"\x16" and data[1:2] == b"\x03", data[:8]
    return data


class AccessTest(harness.IntegrationTest):
    """Helpers for a relay whose HTTP API may need a token."""

    def start(self, bearer=None, sim_kw=None, **cfg_over):
        self.sim = self.start_sim(**(sim_kw or {}))
        cfg = harness.relay_config(harness.free_port(), self.sim.url(), **cfg_over)
        self.relay = self.start_relay(cfg)   # /healthz needs no token
        self.bearer = bearer
        wait_until(lambda: self.status()["status"] == "connected", 10, msg="relay connected")
        return self.relay

    def auth_headers(self, tok=None):
        tok = tok or self.bearer
        return {"Authorization": "Bearer " + tok} if tok else {}

    def status(self):
        st, _, body = self.relay.get("/api/stream/status", headers=self.auth_headers())
        self.assertEqual(st, 200, body[:300])
        return json.loads(body)

    def ws(self, path, headers=None, **kw):
        """A WebSocket via harness.ws_connect_ex, registered for cleanup."""
        c = harness.ws_connect_ex(kw.pop("host", HOST), kw.pop("port", self.relay.port), path,
                                  headers=headers, **kw)
        self._clients.append(c)
        return c

    def refused(self, path, headers=None, **kw):
        """Status of a refused upgrade (fails if it was accepted)."""
        try:
            c = self.ws(path, headers, **kw)
        except wsclient.HandshakeRefused as e:
            return e.status
        c.close(wait=0.2)
        self.fail("upgrade %s with %r was accepted" % (path, headers))

    def check_flowing(self, clients):
        """One published frame reaches every client in `clients` (all on flow-alerts)."""
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        self.sim.publish(FLOW, 1)
        seqs = [recv_data(c, 1, channel=FLOW)[0][0]["seq"] for c in clients]
        self.assertEqual(len(set(seqs)), 1, seqs)


class TestAuth(AccessTest):

    def check_tokens(self, tokens):
        """The rules of auth.tokens / auth.tokens_file, for each token in `tokens`."""
        r = self.relay
        # no token, an empty one, a wrong one: 401 on the upgrade
        self.assertEqual(self.refused("/api/stream/ws/flow"), 401)
        self.assertEqual(self.refused("/api/stream/ws/flow?access_token="), 401)
        self.assertEqual(self.refused("/api/stream/ws/flow?access_token=" +
                                      urllib.parse.quote(WRONG, safe="")), 401)
        self.assertEqual(self.refused("/api/stream/ws/flow", {"Authorization": "Bearer " + WRONG}),
                         401)
        self.assertEqual(self.refused("/api/stream/ws/flow", {"Authorization": "Basic " + tokens[0]}),
                         401)
        # a prefix of a good token is not good
        self.assertEqual(self.refused("/api/stream/ws/flow",
                                      {"Authorization": "Bearer " + tokens[0][:-1]}), 401)
        # the generic endpoint is guarded too
        self.assertEqual(self.refused("/api/stream/ws?channels=news"), 401)
        ok = []
        for tok in tokens:
            q = self.ws("/api/stream/ws/flow?access_token=" + urllib.parse.quote(tok, safe=""))
            expect_subscribed(q, FLOW)
            b = self.ws("/api/stream/ws/flow", {"Authorization": "Bearer " + tok})
            expect_subscribed(b, FLOW)
            ok += [q, b]
        self.check_flowing(ok)
        # HTTP API: 401 without a token (or with a wrong one), 200 with one; /healthz is open
        st, _, body = r.get("/api/stream/status")
        self.assertEqual(st, 401, body[:200])
        st, _, _ = r.get("/api/stream/channels")
        self.assertEqual(st, 401)
        st, _, _ = r.get("/api/stream/status", headers={"Authorization": "Bearer " + WRONG})
        self.assertEqual(st, 401)
        for tok in tokens:
            st, _, body = r.get("/api/stream/status", headers={"Authorization": "Bearer " + tok})
            self.assertEqual(st, 200, body[:200])
            st, _, _ = r.get("/api/stream/status?access_token=" + urllib.parse.quote(tok, safe=""))
            self.assertEqual(st, 200)
        st, _, body = r.get("/healthz")
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(self.status()["total_clients"], len(ok))
        return ok

    def assert_tokens_not_logged(self, tokens):
        rc, killed = self.relay.stop()
        self.assertFalse(killed)
        self.assertEqual(rc, 0)
        log = self.relay.log() + self.relay.proc.stdout()
        self.assertRegex(log, r"(?i)debug", "the relay did not log at debug level")
        for tok in tokens:
            for form in token_forms(tok):
                self.assertNotIn(form, log, "subscriber token (as %r) in the relay log" % form)

    def test_inline_tokens(self):
        self.start(bearer=TOKEN, auth={"tokens": [TOKEN, TOKEN2]}, log={"level": "debug"})
        self.check_tokens([TOKEN, TOKEN2])
        self.assert_tokens_not_logged([TOKEN, TOKEN2])

    def test_tokens_file(self):
        path = os.path.join(self.tmp, "subscribers.txt")
        commented = "commented-out-token-0123456789"
        with open(path, "w") as f:
            f.write("# subscriber tokens, one a line\n\n%s\n#%s\n%s\n" % (TOKEN, commented, TOKEN2))
        self.start(bearer=TOKEN, auth={"tokens_file": path}, log={"level": "debug"})
        self.check_tokens([TOKEN, TOKEN2])
        # a commented-out line is not a token
        self.assertEqual(self.refused("/api/stream/ws/flow", {"Authorization": "Bearer " + commented}),
                         401)
        self.assertEqual(self.refused("/api/stream/ws/flow",
                                      {"Authorization": "Bearer #" + commented}), 401)
        self.assert_tokens_not_logged([TOKEN, TOKEN2])

    def test_tokens_file_short_line_refuses_to_start(self):
        path = os.path.join(self.tmp, "subscribers.txt")
        with open(path, "w") as f:
            f.write("# comment\n%s\nshort-token\n%s\n" % (TOKEN, TOKEN2))
        sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), sim.url(), auth={"tokens_file": path})
        relay = self.start_relay(cfg, wait_healthy=False)
        wait_until(lambda: not relay.alive(), 10, msg="relay exits")
        rc = relay.proc.p.returncode
        self.assertNotEqual(rc, 0, "relay started with a 10-character token in tokens_file")
        log = relay.log()
        self.assertIn("%s:3" % path, log, "the error does not name FILE:LINE; log:\n%s" % log[-2000:])
        self.assertNotIn("short-token", log)
        self.assertNotIn(TOKEN, log)
        # nothing listens
        with self.assertRaises(OSError):
            socket.create_connection((HOST, relay.port), timeout=1).close()

    def test_tokens_file_missing_refuses_to_start(self):
        sim = self.start_sim()
        path = os.path.join(self.tmp, "nope.txt")
        cfg = harness.relay_config(harness.free_port(), sim.url(), auth={"tokens_file": path})
        relay = self.start_relay(cfg, wait_healthy=False)
        wait_until(lambda: not relay.alive(), 10, msg="relay exits")
        self.assertNotEqual(relay.proc.p.returncode, 0)
        self.assertIn(path, relay.log())


class TestOrigins(AccessTest):

    def test_allowed_origins(self):
        self.start(clients={"allowed_origins": ["https://good.example"]})
        good = self.ws("/api/stream/ws/flow", {"Origin": "https://good.example"})
        expect_subscribed(good, FLOW)
        for origin in ("https://evil.example", "http://good.example", "https://good.example.evil",
                       "https://good.example:8443", "null"):
            self.assertEqual(self.refused("/api/stream/ws/flow", {"Origin": origin}), 403, origin)
        # no Origin (a script, curl): not a browser page, nothing to hijack; auth is the
        # guard there (the relay's own page origins are covered in test_origin.py)
        expect_subscribed(self.ws("/api/stream/ws/flow"), FLOW)
        self.assertEqual(self.refused("/api/stream/ws?channels=news",
                                      {"Origin": "https://evil.example"}), 403)
        g = self.ws("/api/stream/ws?channels=flow-alerts", {"Origin": "https://good.example"})
        expect_subscribed(g, FLOW)
        self.check_flowing([good, g])
        # the HTTP API: no Origin needed; a foreign one is refused there too
        self.assertEqual(self.relay.get("/api/stream/status")[0], 200)
        self.assertEqual(self.relay.get("/api/stream/status",
                                        headers={"Origin": "https://evil.example"})[0], 403)
        self.assertEqual(self.status()["total_clients"], 3)


class TestLimits(AccessTest):

    def try_ws(self, path="/api/stream/ws/flow", **kw):
        try:
            return self.ws(path, **kw), 101
        except wsclient.HandshakeRefused as e:
            return None, e.status

    def test_max_connections(self):
        self.start(clients={"max_connections": 3})
        cs = []
        for _ in range(3):
            c = self.ws("/api/stream/ws/flow")
            expect_subscribed(c, FLOW)
            cs.append(c)
        self.assertEqual(self.refused("/api/stream/ws/flow"), 503)
        self.assertEqual(self.refused("/api/stream/ws?channels=news"), 503)
        # also from another address: the limit is global
        self.assertEqual(self.refused("/api/stream/ws/flow", source_addr="127.0.0.2"), 503)
        # the HTTP API still answers at the limit
        self.assertEqual(self.status()["total_clients"], 3)
        cs[0].close()
        got = wait_until(lambda: self.try_ws()[0], 5, 0.05, msg="a 4th socket accepted after one closed")
        expect_subscribed(got, FLOW)
        self.assertEqual(self.refused("/api/stream/ws/flow"), 503)
        self.check_flowing(cs[1:] + [got])

    def test_max_per_ip(self):
        self.start(clients={"max_per_ip": 2})
        a = self.ws("/api/stream/ws/flow")
        b = self.ws("/api/stream/ws/flow")
        for c in (a, b):
            expect_subscribed(c, FLOW)
        self.assertEqual(self.refused("/api/stream/ws/flow"), 429)
        # another source address is counted apart
        o1 = self.ws("/api/stream/ws/flow", source_addr="127.0.0.2")
        o2 = self.ws("/api/stream/ws/flow", source_addr="127.0.0.2")
        for c in (o1, o2):
            expect_subscribed(c, FLOW)
        self.assertEqual(self.refused("/api/stream/ws/flow", source_addr="127.0.0.2"), 429)
        self.assertEqual(self.refused("/api/stream/ws/flow"), 429)
        # a TCP abort frees the slot too
        a.abort()
        got = wait_until(lambda: self.try_ws()[0], 5, 0.05,
                         msg="127.0.0.1 accepted again after one of its sockets went")
        expect_subscribed(got, FLOW)
        self.assertEqual(self.refused("/api/stream/ws/flow"), 429)
        self.check_flowing([b, o1, o2, got])


class TestListen(harness.IntegrationTest):

    def test_other_loopback_address(self):
        sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), sim.url())
        cfg["listen"]["address"] = "127.0.0.2"
        relay = self.start_relay(cfg, wait_healthy=False)

        def healthy():
            self.assertTrue(relay.alive(), "relay exited: %s" % relay.log()[-2000:])
            try:
                return wsclient.http_get("127.0.0.2", relay.port, "/healthz", timeout=1)[0] == 200
            except OSError:
                return False
        wait_until(healthy, 15, 0.05, msg="/healthz on 127.0.0.2")
        c = harness.ws_connect_ex("127.0.0.2", relay.port, "/api/stream/ws/flow")
        self._clients.append(c)
        expect_subscribed(c, FLOW)
        self.assertNotRegex(relay.log(), r"(?i)beyond loopback")

    def test_binds_only_the_configured_address(self):
        """listen.address 127.0.0.1 (the default) or 127.0.0.2 binds that address only, not the
        IPv6/dual-stack wildcard '::' (which would reach every interface). Checked from
        /proc/net/tcp and tcp6, without connecting to anything beyond loopback."""
        sim = self.start_sim()
        for addr in ("127.0.0.1", "127.0.0.2"):
            with self.subTest(address=addr):
                cfg = harness.relay_config(harness.free_port(), sim.url())
                cfg["listen"]["address"] = addr
                relay = self.start_relay(cfg, wait_healthy=False, name="uwrelay-" + addr)
                wait_until(lambda: relay.alive() and harness.listening_addresses(relay.port), 10,
                           0.02, msg="a listening socket on port %d" % relay.port)
                got = harness.listening_addresses(relay.port)
                relay.stop()
                self.assertEqual(got, [addr], "listen.address %s must bind %s only" % (addr, addr))

    def test_localhost_address(self):
        """'localhost' counts as loopback in the config: the relay must then either serve on a
        loopback address only, or refuse to start; not run without listening anywhere."""
        sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), sim.url())
        cfg["listen"]["address"] = "localhost"
        relay = self.start_relay(cfg, wait_healthy=False)

        def settled():
            if not relay.alive():
                return "exited"
            try:
                if wsclient.http_get(HOST, relay.port, "/healthz", timeout=1)[0] == 200:
                    return "serving"
            except OSError:
                pass
            return None
        try:
            outcome = wait_until(settled, 5, 0.05, msg="relay serves on localhost or exits")
        except harness.WaitTimeout:
            self.fail("listen.address localhost: the relay runs but nothing answers on 127.0.0.1:%d "
                      "(listening on %r); log:\n%s" % (relay.port,
                                                        harness.listening_addresses(relay.port),
                                                        relay.log()[-1500:]))
        if outcome == "exited":
            self.assertNotEqual(relay.proc.p.returncode, 0)
            self.assertRegex(relay.log(), r"(?i)localhost")
        else:
            addrs = harness.listening_addresses(relay.port)
            self.assertTrue(addrs and all(a in ("127.0.0.1", "::1") for a in addrs), addrs)

    def wildcard_config(self, port, extra_listen=""):
        return ("listen:\n  address: 0.0.0.0\n  port: %d\n%s"
                "upstream:\n  url: ws://127.0.0.1:9/socket\n" % (port, extra_listen))

    def test_wildcard_without_auth_refused(self):
        # Hold the port (bound, NOT listening, no SO_REUSEADDR): even a relay that wrongly went
        # ahead could not listen on 0.0.0.0, and its message would then be the wrong one.
        guard = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(guard.close)
        guard.bind(("0.0.0.0", 0))
        port = guard.getsockname()[1]
        path = os.path.join(self.tmp, "wild.yaml")
        with open(path, "w") as f:
            f.write(self.wildcard_config(port))
        rc, out, err = run_relay_cmd(["-c", path, "--check-config"])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%s:2:" % path, out + err, "error does not name the address line")
        self.assertRegex(out + err, r"(?i)auth")
        self.assertNotIn("configuration OK", out + err)
        # starting: refused, exit non-zero, saying why
        p = subprocess.Popen([harness.relay_bin(), "-c", path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env={k: v for k, v in os.environ.items() if k not in ("UW_API_TOKEN",)})
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("uwrelay kept running with listen.address 0.0.0.0 and no auth")
        text = (out + err).decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, text)
        self.assertRegex(text, r"(?i)auth", "the refusal does not say why: %r" % text)
        self.assertNotRegex(text, r"(?i)cannot listen|address in use",
                            "refused for the wrong reason (it tried to listen): %r" % text)
        # with allow_anonymous (or with auth) the file is valid
        with open(path, "w") as f:
            f.write(self.wildcard_config(port, "  allow_anonymous: true\n"))
        rc, out, err = run_relay_cmd(["-c", path, "--check-config"])
        self.assertEqual((rc, out.strip()), (0, "configuration OK"), err)
        with open(path, "w") as f:
            f.write(self.wildcard_config(port) + "auth:\n  tokens: [\"%s\"]\n" % TOKEN)
        rc, out, err = run_relay_cmd(["-c", path, "--check-config"])
        self.assertEqual((rc, out.strip()), (0, "configuration OK"), err)
        self.assertNotIn(TOKEN, out + err)


class TestTlsListener(AccessTest):

    def setUp(self):
        super().setUp()
        self.cert, self.key = harness.make_cert(self.tmp)
        self.ctx = ssl.create_default_context(cafile=self.cert)
        self.sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), self.sim.url(),
                                   listen={"tls": {"cert": self.cert, "key": self.key}})
        self.relay = self.start_relay(cfg, wait_healthy=False)
        self.bearer = None
        wait_until(self.https_healthy, 15, 0.05, msg="https /healthz")

    def https_get(self, path):
        import http.client
        conn = http.client.HTTPSConnection("localhost", self.relay.port, context=self.ctx, timeout=5)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def https_healthy(self):
        self.assertTrue(self.relay.alive(), "relay exited: %s" % self.relay.log()[-2000:])
        try:
            return self.https_get("/healthz")[0] == 200
        except OSError:
            return False

    def wss(self, path):
        return self.ws(path, host="localhost", ssl_context=self.ctx, server_hostname="localhost")

    def test_https_and_wss(self):
        st, body = self.https_get("/api/stream/status")
        self.assertEqual(st, 200)
        wait_until(lambda: json.loads(self.https_get("/api/stream/status")[1])["status"] == "connected",
                   10, msg="connected (over https)")
        st, body = self.https_get("/healthz")
        self.assertEqual(st, 200)
        c = self.wss("/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        g = self.wss("/api/stream/ws?channels=flow-alerts")
        expect_subscribed(g, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 200)
        for cl in (c, g):
            self.assertEqual([e["seq"] for e, _ in recv_data(cl, 200, channel=FLOW)],
                             list(range(1, 201)))
        # the certificate really is checked by the client: a context without the CA fails
        with self.assertRaises(ssl.SSLError):
            harness.open_socket("localhost", self.relay.port, ssl_context=ssl.create_default_context(),
                                server_hostname="localhost").close()
        self.assertTrue(self.relay.alive())

    def s_client(self, args, script, timeout=10):
        """openssl s_client against the relay, fed `script` (a list of (bytes, pause)); its
        output as text."""
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.relay.port,
                              "-servername", "localhost", "-CAfile", self.cert] + args,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for data, pause in script:
                time.sleep(pause)
                p.stdin.write(data)
                p.stdin.flush()
            time.sleep(1)
        except BrokenPipeError:
            pass
        try:
            out, _ = p.communicate(timeout=timeout)   # closes stdin: s_client ends
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return out.decode("utf-8", "replace")

    def test_no_renegotiation_no_old_tls(self):
        """A client asking to renegotiate (s_client's R command, TLS 1.2) is refused with the
        no_renegotiation alert; TLS 1.1 is refused outright. (OpenSSL 3.0 servers already refuse
        client-initiated renegotiation by default; the relay sets SSL_OP_NO_RENEGOTIATION so
        that holds whatever the library's defaults or openssl.cnf say.)"""
        out = self.s_client(["-tls1_2"], [(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0.3),
                                          (b"R\n", 0.5)])
        self.assertIn("Protocol  : TLSv1.2", out)
        self.assertIn('{"status":"ok"', out, "the request before the renegotiation was served")
        self.assertIn("RENEGOTIATING", out, "s_client did not try to renegotiate:\n" + out[-1500:])
        self.assertRegex(out, r"(?i)no renegotiation", out[-1500:])
        out = self.s_client(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], [(b"", 0.3)])
        self.assertRegex(out, r"(?i)alert protocol version|no protocols available|unsupported protocol",
                         out[-1500:])
        self.assertNotIn("BEGIN CERTIFICATE", out)
        self.assertTrue(self.https_healthy())

    def test_plain_clients_on_tls_port(self):
        c = self.wss("/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        # plain HTTP, a plain WebSocket upgrade, and junk on the TLS port
        for data in (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                     b"GET /api/stream/ws/flow HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n",
                     b"GARBAGE\r\n\r\n", b"\x00" * 3000):
            got, closed = harness.raw_exchange(HOST, self.relay.port, data, timeout=5)
            self.assertTrue(closed, "the relay kept a plain connection to its TLS port open (%r)"
                            % data[:20])
            self.assertNotIn(b"200 OK", got)
            self.assertNotIn(b"101 Switching", got)
            self.assertTrue(self.relay.alive(), "relay died after %r" % data[:30])
        # a plain HTTP client that hangs up at once
        for _ in range(5):
            s = socket.create_connection((HOST, self.relay.port), timeout=2)
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            s.close()
        # still serving, old and new clients alike
        wait_until(self.https_healthy, 5, msg="https /healthz after plain clients")
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 3)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 3, channel=FLOW)], [1, 2, 3])
        d = self.wss("/api/stream/ws/flow")
        expect_subscribed(d, FLOW)
        self.assertIsNone(harness.SANITIZER_RE.search(self.relay.log()), self.relay.log()[-3000:])


class TestJunk(AccessTest):

    def test_junk_gets_400(self):
        self.start()
        hello = client_hello()
        for data in (b"GARBAGE\r\n\r\n", hello, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" +
                     os.urandom(64), b"\x00\xff" * 100 + b"\r\n\r\n",
                     b"SSH-2.0-OpenSSH_9.2\r\n"):
            got, closed = harness.raw_exchange(HOST, self.relay.port, data, timeout=5)
            self.assertTrue(got.startswith(b"HTTP/1.1 400"), "%r -> %r" % (data[:20], got[:200]))
            self.assertTrue(closed, "connection left open after the 400 (%r)" % data[:20])
            self.assertTrue(self.relay.alive())
        # many at once, some hanging up before the answer
        socks = []
        for i in range(20):
            s = socket.create_connection((HOST, self.relay.port), timeout=2)
            s.sendall(b"GARBAGE %d\r\n\r\n" % i)
            socks.append(s)
        for s in socks[::2]:
            s.close()
        for s in socks[1::2]:
            s.settimeout(5)
            buf = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            self.assertTrue(buf.startswith(b"HTTP/1.1 400"), buf[:100])
            s.close()
        # still serving
        self.assertEqual(self.relay.get("/healthz")[0], 200)
        c = self.ws("/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        self.check_flowing([c])
        self.assertIsNone(harness.SANITIZER_RE.search(self.relay.log()))


if __name__ == "__main__":
    harness.main()
