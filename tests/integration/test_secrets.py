#!/usr/bin/env python3
"""The UW token never leaves the relay: not in its log, HTTP answers or WebSocket frames."""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, expect_subscribed, recv_data, wait_until  # noqa: E402

TOKEN = "tok_SECRET_abc123+/="
FLOW = "flow-alerts"


def token_forms(tok):
    forms = {tok, urllib.parse.quote(tok, safe=""), urllib.parse.quote_plus(tok),
             urllib.parse.quote(tok, safe="").lower(), urllib.parse.quote(tok, safe="/"),
             tok.replace("+", " ")}
    # a distinctive core that survives any encoding
    forms.add("tok_SECRET_abc123")
    return sorted(forms)


class TestSecrets(harness.IntegrationTest):

    def assert_clean(self, where, data):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        for form in token_forms(TOKEN):
            self.assertNotIn(form, data, "token (%r) leaked in %s" % (form, where))

    def all_http(self, relay, received):
        for path in ("/api/stream/status", "/api/stream/channels", "/healthz", "/nope",
                     "/api/stream/status?token=x"):
            st, hdrs, body = relay.get(path)
            received.append(("GET %s" % path, body + repr(hdrs).encode()))
        try:
            wsclient.connect(HOST, relay.port, "/api/stream/ws/nope")
        except wsclient.HandshakeRefused as e:
            received.append(("refused upgrade", e.body + repr(e.headers).encode()))

    def test_token_never_leaks(self):
        sim = self.start_sim(token=TOKEN)
        cfg = harness.relay_config(harness.free_port(), sim.url(), log={"level": "debug"},
                                   upstream={"reconnect": {"initial_delay": 0.2, "max_delay": 1,
                                                           "jitter": 0.1}})
        relay = self.start_relay(cfg, token=TOKEN)
        relay.wait_connected(10)   # the relay URL-encodes the token correctly, or this fails
        received = []
        c = self.client(relay, "/api/stream/ws/flow")
        g = self.client(relay, "/api/stream/ws?channels=gex:SPY")
        received.append(("ws flow", repr(expect_subscribed(c, FLOW)).encode()))
        received.append(("ws generic", repr(expect_subscribed(g, "gex:SPY")).encode()))
        g.send_text("{bad")
        received.append(("ws error", g.recv_text()))
        wait_until(lambda: sim.stats()["joined"].get(FLOW) == 1, 5)
        sim.publish(FLOW, 3)
        received += [("ws data", raw) for _, raw in recv_data(c, 3, channel=FLOW)]
        self.all_http(relay, received)

        # a cut and a reconnect
        connects = relay.conn()["connects"]
        sim.ctl("cut", mode="drop")
        wait_until(lambda: relay.conn()["connects"] == connects + 1, 10, msg="reconnect after cut")
        self.all_http(relay, received)

        # two 401s, then it gets in again
        sim.ctl("refuse", count=2, status=401)
        sim.ctl("cut")
        s = wait_until(lambda: (lambda s: s if s["status"] == "unauthorized" else None)(relay.status()),
                       5, msg="status unauthorized after a 401")
        received.append(("status while unauthorized", repr(s).encode()))
        self.all_http(relay, received)
        relay.wait_connected(15)
        self.all_http(relay, received)
        wait_until(lambda: sim.stats()["joined"].get(FLOW) == 1, 5)
        sim.publish(FLOW, 2)
        received += [("ws data", raw) for _, raw in recv_data(c, 2, channel=FLOW)]
        self.assertGreaterEqual(sim.stats()["handshakes_refused"], 2)

        # everything else the browsers got ($relay upstream notices, reasons included)
        for cl, name in ((c, "flow"), (g, "generic")):
            received += [("ws notice (%s)" % name, repr(n).encode()) for n in cl.notices]
            while True:
                m = cl.expect_nothing(0.2)
                if m is None:
                    break
                received.append(("ws late (%s)" % name, m[1]))
        self.assertTrue(any(w.startswith("ws notice") for w, _ in received),
                        "no $relay upstream notice reached the browsers during the cuts")
        # over: nothing anywhere carries the token
        for where, data in received:
            self.assert_clean(where, data)
        rc, killed = relay.stop()
        log = relay.log()
        self.assertIn("token=***", log, "the log never shows the (masked) upstream URL")
        self.assertRegex(log, r"(?i)\b401\b|unauthori", "the 401 is not in the log")
        self.assert_clean("relay log (stderr)", log)
        self.assert_clean("relay stdout", relay.proc.stdout())

    def test_wrong_token_unauthorized(self):
        sim = self.start_sim(token="the-right-one")
        cfg = harness.relay_config(harness.free_port(), sim.url(), log={"level": "debug"})
        relay = self.start_relay(cfg, token=TOKEN)
        s = wait_until(lambda: (lambda s: s if s["status"] == "unauthorized" else None)(relay.status()),
                       10, msg="status unauthorized")
        self.assertFalse(s["uw_connection"]["connected"])
        self.assertTrue(s["reason"] or s["uw_connection"]["last_error"],
                        "no reason given for unauthorized: %r" % s)
        wait_until(lambda: sim.stats()["handshakes_refused"] >= 2, 10, msg="keeps retrying")
        self.assertEqual(relay.status()["status"], "unauthorized")
        received = [("status", repr(relay.status()).encode())]
        self.all_http(relay, received)
        for where, data in received:
            self.assert_clean(where, data)
        relay.stop()
        self.assert_clean("relay log", relay.log())


if __name__ == "__main__":
    harness.main()
