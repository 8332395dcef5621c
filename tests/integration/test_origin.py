#!/usr/bin/env python3
"""Who may talk to the relay from a browser: the relay's own origins by default, listed ones with
CORS, "*" as an opt-in; the Host rule against DNS rebinding; files under auth, with the cookie
that lets the built-in page's own files load after /?access_token=."""

import http.client
import json
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"
TOKEN = "subTok_9f2c4a1b+e07d/3e55=QZ"
TOKEN2 = "second-subscriber-token-0123456789"
DEV = "http://localhost:3000"
EVIL = "https://evil.example"


def request(port, method, path, headers=None):
    """One HTTP request; returns (status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        h = {"Connection": "close"}
        h.update(headers or {})
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


class OriginTest(harness.IntegrationTest):

    def start(self, **cfg_over):
        self.sim = self.start_sim()
        cfg = harness.relay_config(harness.free_port(), self.sim.url(), **cfg_over)
        self.relay = self.start_relay(cfg)
        self.port = self.relay.port
        return self.relay

    def get(self, path, **headers):
        return request(self.port, "GET", path, headers)

    def ws(self, path="/api/stream/ws/flow", headers=None):
        c = harness.ws_connect_ex(HOST, self.port, path, headers=headers)
        self._clients.append(c)
        return c

    def refused(self, path="/api/stream/ws/flow", headers=None):
        try:
            c = self.ws(path, headers)
        except wsclient.HandshakeRefused as e:
            return e.status, e.body
        c.close(wait=0.2)
        self.fail("upgrade %s with %r was accepted" % (path, headers))

    def metric(self, name, **labels):
        _, _, body = self.get("/metrics")
        sel = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        m = re.search(r"^%s\{%s\} (\d+)" % (re.escape(name), re.escape(sel)), body.decode(), re.M)
        self.assertIsNotNone(m, "%s{%s} not in /metrics" % (name, sel))
        return int(m.group(1))

    def flowing(self, clients):
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="flow-alerts joined")
        self.sim.publish(FLOW, 1)
        for c in clients:
            self.assertEqual(len(recv_data(c, 1, channel=FLOW)), 1)


class TestDefaults(OriginTest):

    def test_foreign_origin_is_refused_own_origin_works(self):
        self.start()
        # cross-site WebSocket hijacking: any page the owner visits
        st, body = self.refused(headers={"Origin": EVIL})
        self.assertEqual(st, 403)
        self.assertIn(b"clients.allowed_origins", body)
        self.assertEqual(self.refused("/api/stream/ws?channels=news", {"Origin": EVIL})[0], 403)
        # a dev server on another port of the same machine is another origin
        self.assertEqual(self.refused(headers={"Origin": DEV})[0], 403)
        self.assertEqual(self.refused(headers={"Origin": "null"})[0], 403)
        self.assertEqual(self.refused(headers={"Origin": "https://127.0.0.1:%d" % self.port})[0], 403)
        # the relay's own page (as the browser names it), with or without a Host that says so
        own = []
        for origin, host in (("http://127.0.0.1:%d" % self.port, None),
                             ("http://localhost:%d" % self.port, "localhost:%d" % self.port),
                             ("http://[::1]:%d" % self.port, "[::1]:%d" % self.port)):
            c = self.ws(headers=dict({"Origin": origin}, **({"Host": host} if host else {})))
            expect_subscribed(c, FLOW)
            own.append(c)
        # no Origin at all: a script or curl
        c = self.ws()
        expect_subscribed(c, FLOW)
        self.flowing(own + [c])
        # the HTTP API refuses a foreign Origin too, and gives it no CORS header
        st, hdrs, body = self.get("/api/stream/status", Origin=EVIL)
        self.assertEqual(st, 403, body[:200])
        self.assertNotIn("access-control-allow-origin", hdrs)
        st, hdrs, _ = self.get("/api/stream/status", Origin="http://127.0.0.1:%d" % self.port)
        self.assertEqual(st, 200)
        self.assertNotIn("access-control-allow-origin", hdrs, "same-origin needs no CORS header")
        # a preflight from a foreign origin
        st, hdrs, _ = request(self.port, "OPTIONS", "/api/stream/status",
                              {"Origin": EVIL, "Access-Control-Request-Method": "GET"})
        self.assertEqual(st, 403)
        self.assertNotIn("access-control-allow-origin", hdrs)
        self.assertGreaterEqual(self.metric("uwrelay_refused_total", reason="origin"), 7)

    def test_dns_rebinding_host_is_refused(self):
        self.start()
        for path in ("/api/stream/status", "/metrics", "/", "/uwrelay.js", "/healthz"):
            st, hdrs, body = self.get(path, Host="evil.example:%d" % self.port)
            self.assertEqual(st, 421, "%s with Host evil.example" % path)
            self.assertIn(b"listen.hostnames", body)
            self.assertEqual(hdrs.get("content-type"), "application/json")
            json.loads(body)
        # the WebSocket too, even with the page's own Origin (a rebound page is "same-origin")
        self.assertEqual(self.refused(headers={"Host": "evil.example:%d" % self.port,
                                               "Origin": "http://evil.example:%d" % self.port})[0], 421)
        # loopback names and addresses, with or without the port
        for host in ("127.0.0.1:%d" % self.port, "localhost", "LOCALHOST:%d" % self.port,
                     "127.0.0.2", "[::1]:%d" % self.port, "localhost:1"):
            st, _, _ = self.get("/api/stream/status", Host=host)
            self.assertEqual(st, 200, host)
        self.assertEqual(self.get("/healthz", Host="foo.localhost")[0], 421)
        self.assertGreaterEqual(self.metric("uwrelay_refused_total", reason="host"), 7)

    def test_listed_hostname(self):
        self.start(listen={"hostnames": ["relay.test"]})
        host = "relay.test:%d" % self.port
        self.assertEqual(self.get("/api/stream/status", Host=host)[0], 200)
        c = self.ws(headers={"Host": host, "Origin": "http://relay.test:%d" % self.port})
        expect_subscribed(c, FLOW)
        self.assertEqual(self.get("/api/stream/status", Host="other.test")[0], 421)


class TestCors(OriginTest):

    def test_listed_dev_origin(self):
        self.start(clients={"allowed_origins": [DEV]})
        c = self.ws(headers={"Origin": DEV})
        expect_subscribed(c, FLOW)
        self.flowing([c])
        for path in ("/api/stream/status", "/api/stream/channels", "/metrics", "/healthz",
                     "/readyz", "/uwrelay.js"):
            st, hdrs, _ = self.get(path, Origin=DEV)
            self.assertEqual(st, 200, path)
            self.assertEqual(hdrs.get("access-control-allow-origin"), DEV, path)
            self.assertEqual(hdrs.get("vary"), "Origin", path)
        # the page itself is not for other origins to read
        st, hdrs, _ = self.get("/", Origin=DEV)
        self.assertEqual(st, 200)
        self.assertNotIn("access-control-allow-origin", hdrs)
        # preflight
        st, hdrs, body = request(self.port, "OPTIONS", "/api/stream/status",
                                 {"Origin": DEV, "Access-Control-Request-Method": "GET",
                                  "Access-Control-Request-Headers": "authorization"})
        self.assertEqual(st, 204, body[:200])
        self.assertEqual(hdrs.get("access-control-allow-origin"), DEV)
        self.assertEqual(hdrs.get("access-control-allow-methods"), "GET, OPTIONS")
        self.assertEqual(hdrs.get("access-control-allow-headers"), "Authorization")
        self.assertEqual(hdrs.get("access-control-max-age"), "600")
        self.assertEqual(hdrs.get("vary"), "Origin")
        for origin in (EVIL, "http://localhost:3001", "https://localhost:3000"):
            st, hdrs, _ = request(self.port, "OPTIONS", "/api/stream/status",
                                  {"Origin": origin, "Access-Control-Request-Method": "GET"})
            self.assertEqual(st, 403, origin)
            self.assertNotIn("access-control-allow-origin", hdrs)
            self.assertEqual(self.refused(headers={"Origin": origin})[0], 403, origin)
        # an OPTIONS that is no preflight is still not served
        self.assertEqual(request(self.port, "OPTIONS", "/api/stream/status", {"Origin": DEV})[0], 405)
        # the relay's own page keeps working beside the listed origin
        c2 = self.ws(headers={"Origin": "http://127.0.0.1:%d" % self.port})
        expect_subscribed(c2, FLOW)

    def test_star_opts_in(self):
        self.start(clients={"allowed_origins": ["*"]})
        c = self.ws(headers={"Origin": EVIL})
        expect_subscribed(c, FLOW)
        self.flowing([c])
        st, hdrs, _ = self.get("/api/stream/status", Origin=EVIL)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("access-control-allow-origin"), EVIL)
        st, hdrs, _ = request(self.port, "OPTIONS", "/api/stream/status",
                              {"Origin": EVIL, "Access-Control-Request-Method": "GET"})
        self.assertEqual(st, 204)
        # "*" opens origins, not hosts
        self.assertEqual(self.get("/api/stream/status", Host="evil.example")[0], 421)


class TestFilesUnderAuth(OriginTest):

    def cookie_of(self, hdrs):
        sc = hdrs.get("set-cookie")
        self.assertIsNotNone(sc, "no Set-Cookie in %r" % hdrs)
        attrs = [a.strip() for a in sc.split(";")]
        self.assertIn("HttpOnly", attrs)
        self.assertIn("SameSite=Strict", attrs)
        self.assertIn("Path=/", attrs)
        self.assertTrue(attrs[0].startswith("uwrelay_auth="), sc)
        for form in (TOKEN, TOKEN2, urllib.parse.quote(TOKEN, safe=""), "subTok_9f2c4a1b"):
            self.assertNotIn(form, sc)
        return attrs[0]

    def test_files_need_a_token_and_the_cookie_loads_the_page(self):
        static = os.path.join(self.tmp, "static")
        os.mkdir(static)
        with open(os.path.join(static, "notes.txt"), "w") as f:
            f.write("private notes\n")
        self.start(auth={"tokens": [TOKEN, TOKEN2]}, http={"static_dir": static})
        for path in ("/", "/index.html", "/style.css", "/app.js", "/uwrelay.js", "/notes.txt",
                     "/api/stream/status", "/metrics"):
            st, hdrs, body = self.get(path)
            self.assertEqual(st, 401, path)
            self.assertNotIn(b"private notes", body)
            self.assertNotIn("set-cookie", hdrs)
        self.assertEqual(self.get("/healthz")[0], 200)
        # no token needed (503 only says the UW link is not up yet)
        self.assertIn(self.get("/readyz")[0], (200, 503))
        # the owner opens the page with the token: the answer sets the cookie...
        st, hdrs, body = self.get("/?access_token=" + urllib.parse.quote(TOKEN, safe=""))
        self.assertEqual(st, 200)
        self.assertIn(b"<html", body.lower())
        cookie = self.cookie_of(hdrs)
        # ...and the page's own files load with it, as a browser sends it
        for path in ("/style.css", "/app.js", "/uwrelay.js", "/notes.txt", "/api/stream/status"):
            st, hdrs, body = self.get(path, Cookie="theme=dark; " + cookie)
            self.assertEqual(st, 200, path)
            self.assertNotIn("set-cookie", hdrs)
        self.assertEqual(self.get("/notes.txt", Cookie=cookie)[2], b"private notes\n")
        c = self.ws(headers={"Cookie": cookie, "Origin": "http://127.0.0.1:%d" % self.port})
        expect_subscribed(c, FLOW)
        # a Bearer token works on files as well
        self.assertEqual(self.get("/notes.txt", Authorization="Bearer " + TOKEN2)[0], 200)
        st, hdrs, _ = self.get("/api/stream/status", Authorization="Bearer " + TOKEN2)
        cookie2 = self.cookie_of(hdrs)
        self.assertNotEqual(cookie, cookie2)
        # a forged cookie
        forged = cookie[:-1] + ("0" if cookie[-1] != "0" else "1")
        self.assertEqual(self.get("/style.css", Cookie=forged)[0], 401)
        self.assertEqual(self.get("/style.css", Cookie="uwrelay_auth=" + TOKEN)[0], 401)
        # a reload that removes TOKEN: its cookie is dead, TOKEN2's lives on
        cfg = dict(self.relay.config)
        cfg["auth"] = {"tokens": [TOKEN2]}
        self.relay.reload(cfg)
        wait_until(lambda: self.get("/style.css", Cookie=cookie)[0] == 401, 5,
                   msg="the removed token's cookie refused after the reload")
        self.assertEqual(self.get("/style.css", Cookie=cookie2)[0], 200)
        self.assertEqual(self.get("/style.css?access_token=" + urllib.parse.quote(TOKEN, safe=""))[0],
                         401)
        self.assertEqual(self.refused(headers={"Cookie": cookie})[0], 401)
        # nothing of either token in the log
        self.relay.stop()
        log = self.relay.log()
        for form in (TOKEN, TOKEN2, urllib.parse.quote(TOKEN, safe=""), cookie.split("=", 1)[1]):
            self.assertNotIn(form, log)


if __name__ == "__main__":
    harness.main()
