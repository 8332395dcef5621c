#!/usr/bin/env python3
"""wss:// upstream: verified with upstream.ca_file, refused without it."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"


class TestWss(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.cert, self.key = harness.make_cert(self.tmp)
        self.sim = self.start_sim(tls=True, cert=self.cert, key=self.key, token="tls-token")
        self.assertTrue(self.sim.tls_port, "sim did not report a wss port")

    def relay_for(self, url, **upstream):
        up = {"url": url}
        up.update(upstream)
        cfg = harness.relay_config(harness.free_port(), url, upstream=up)
        return self.start_relay(cfg, token="tls-token")

    def test_wss_with_ca_file(self):
        relay = self.relay_for(self.sim.wss_url("localhost"), ca_file=self.cert)
        s = relay.wait_connected(10)
        self.assertEqual(s["uw_connection"]["url"],
                         "wss://localhost:%d/socket?token=***" % self.sim.tls_port)
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5)
        self.sim.publish(FLOW, 50)
        got = recv_data(c, 50, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in got], list(range(1, 51)))
        st = self.sim.stats()
        self.assertEqual(st["handshakes_ok"], 1)

    def test_wss_without_ca_file_refuses(self):
        relay = self.relay_for(self.sim.wss_url("localhost"))
        c = self.client(relay, "/api/stream/ws/flow")
        expect_subscribed(c, FLOW)
        s = wait_until(lambda: (lambda s: s if s["uw_connection"]["last_error"] else None)(relay.status()),
                       10, msg="last_error set after a failed TLS handshake")
        self.assertEqual(s["status"], "disconnected")
        self.assertFalse(s["uw_connection"]["connected"])
        self.assertIsInstance(s["uw_connection"]["last_error"], str)
        # let it retry a few times (max_delay 1 s): still nothing gets through
        wait_until(lambda: relay.conn()["reconnect_attempts"] >= 2, 5, msg="keeps retrying")
        self.assertEqual(relay.status()["status"], "disconnected")
        st = self.sim.stats()
        self.assertEqual(st["handshakes_ok"], 0)
        self.assertEqual(st["joins"], 0)
        self.assertIsNone(c.expect_nothing(0.3))
        self.assertEqual(relay.conn()["frames_in"], 0)

    def test_wss_wrong_host_name(self):
        """The CA is trusted but the name does not match the certificate: refused."""
        cert2_dir = os.path.join(self.tmp, "other")
        os.mkdir(cert2_dir)
        # A certificate for another name, used by a second sim; the relay trusts it as a CA
        # but connects by a name the certificate does not carry.
        cert2, key2 = os.path.join(cert2_dir, "c.pem"), os.path.join(cert2_dir, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=example.invalid", "-addext",
                        "subjectAltName=DNS:example.invalid", "-days", "2",
                        "-keyout", key2, "-out", cert2],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        sim2 = self.start_sim(tls=True, cert=cert2, key=key2, token="tls-token", name="uwsim2")
        relay = self.relay_for(sim2.wss_url("localhost"), ca_file=cert2)
        wait_until(lambda: relay.conn()["last_error"], 10, msg="last_error after a name mismatch")
        wait_until(lambda: relay.conn()["reconnect_attempts"] >= 2, 5, msg="keeps retrying")
        self.assertEqual(relay.status()["status"], "disconnected")
        self.assertEqual(sim2.stats()["handshakes_ok"], 0)

    def test_wss_cn_only_certificate_refused(self):
        """A certificate naming localhost only in its CN (no subjectAltName), trusted as a CA:
        OpenSSL's CN fallback would accept it; the relay must not, and says why in status."""
        d = os.path.join(self.tmp, "cn-only")
        os.mkdir(d)
        cert, key = harness.make_cert(d, cn="localhost", san=None)
        text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], check=True,
                              stdout=subprocess.PIPE, timeout=30).stdout.decode()
        self.assertIn("CN = localhost", text)
        self.assertNotIn("Subject Alternative Name", text)
        sim = self.start_sim(tls=True, cert=cert, key=key, token="tls-token", name="uwsim-cn")
        relay = self.relay_for(sim.wss_url("localhost"), ca_file=cert)
        err = wait_until(lambda: relay.conn()["last_error"], 10, msg="last_error after the handshake")
        self.assertRegex(err, r"(?i)hostname mismatch", err)
        s = relay.status()
        self.assertEqual(s["status"], "disconnected")
        self.assertRegex(s["reason"], r"(?i)hostname mismatch")
        wait_until(lambda: relay.conn()["reconnect_attempts"] >= 2, 5, msg="keeps retrying")
        self.assertEqual(sim.stats()["handshakes_ok"], 0)
        self.assertEqual(relay.conn()["frames_in"], 0)


if __name__ == "__main__":
    harness.main()
