#!/usr/bin/env python3
"""Command line, configuration checking (with file:line in errors) and token sources."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import relay_bin, wait_until  # noqa: E402

# The example from the design, verbatim but for the port and upstream URL.
GOOD = """\
listen:
  address: 127.0.0.1
  port: {port}
upstream:
  url: {url}
  token_file: ""
  ca_file: ""
  max_frame: 1048576
  reconnect: {{initial_delay: 5, max_delay: 60, jitter: 0.10}}
  health: {{idle_timeout: 30, pong_timeout: 10}}
endpoints:
  - {{id: flow-alerts,   path: /api/stream/ws/flow,          channel: flow-alerts,    name: Options Flow Alerts, description: "..."}}
  - {{id: dark-pool,     path: /api/stream/ws/dark-pool,     channel: off_lit_trades, name: Dark Pool, description: "..."}}
  - {{id: market-movers, path: /api/stream/ws/market-movers, channel: market_tide,    name: Market Tide, description: "..."}}
allowed_channels: [flow-alerts, option_trades, "option_trades:*", "price:*", "gex:*", "gex_strike:*", "gex_strike_expiry:*", news, lit_trades, off_lit_trades, market_tide, "net_flow:*", trading_halts]
log: {{level: info}}     # error, warn, info, debug
"""

HEAD = "listen:\n  address: 127.0.0.1\n  port: 8080\n"

# (name, text, line of the error, or a tuple of acceptable lines)
BROKEN = [
    ("unknown top-level key", HEAD + "upstreams:\n  url: ws://127.0.0.1:1/socket\n", 4),
    ("unknown nested key", HEAD + "upstream:\n  url: ws://127.0.0.1:1/socket\n  bogus_key: 3\n", 6),
    ("unknown key in flow mapping", HEAD + "upstream:\n  url: ws://127.0.0.1:1/socket\n"
     "  reconnect: {initial_delay: 1,\n    max_dealy: 3}\n", 7),
    ("unknown endpoint key", HEAD + "endpoints:\n  - id: a\n    path: /api/stream/ws/a\n"
     "    channel: news\n    colour: red\n", 8),
    ("port not a number", "listen:\n  address: 127.0.0.1\n  port: abc\n", 3),
    ("max_frame a string", HEAD + "upstream:\n  max_frame: big\n", 5),
    ("reconnect a scalar", HEAD + "upstream:\n  url: ws://127.0.0.1:1/socket\n  reconnect: 5\n", 6),
    # the key is on line 3, the offending list starts on line 4: either is right
    ("listen a list", "log:\n  level: info\nlisten:\n  - 1\n", (3, 4)),
    ("allowed_channels a scalar", HEAD + "log:\n  level: info\nallowed_channels: 7\n", 6),
    ("bad log level", HEAD + "log:\n  level: chatty\n", 5),
    ("negative port", "listen:\n  address: 127.0.0.1\n  port: -1\n", 3),
    ("port too big", "log:\n  level: info\nlisten:\n  port: 70000\n", 4),
    ("negative delay", HEAD + "upstream:\n  reconnect:\n    initial_delay: -2\n", 6),
    ("under-indented key", "listen:\n  address: 127.0.0.1\n port: 8080\nlog:\n  level: info\n", 3),
    ("over-indented key", HEAD + "    extra: 1\nlog:\n  level: info\n", 4),
    ("nested under-indent", HEAD + "upstream:\n  url: ws://127.0.0.1:1/socket\n  reconnect:\n"
     "    initial_delay: 1\n   max_delay: 3\n", 8),
    ("tab indentation", "listen:\n  address: 127.0.0.1\n\tport: 8080\n", 3),
]


def run(args, env=None, timeout=10):
    e = dict(os.environ)
    e.pop("UW_API_TOKEN", None)
    e.pop("UW_KEY", None)
    e.update(env or {})
    p = subprocess.run([relay_bin()] + args, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class TestCommandLine(harness.IntegrationTest):

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_config_good(self):
        path = self.write("good.yaml", GOOD.format(port=harness.free_port(),
                                                   url="ws://127.0.0.1:9/socket"))
        rc, out, err = run(["--check-config", "-c", path])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("configuration OK", out + err)
        rc, out, err = run(["--config", path, "--check-config"])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("configuration OK", out + err)

    def test_check_config_broken(self):
        for name, text, line in BROKEN:
            with self.subTest(name):
                path = self.write(re.sub(r"\W+", "_", name) + ".yaml", text)
                rc, out, err = run(["--check-config", "-c", path])
                msg = out + err
                self.assertNotEqual(rc, 0, "%s accepted: %r" % (name, msg))
                self.assertNotIn("configuration OK", msg)
                self.assertIn(os.path.basename(path), msg, "file not named: %r" % msg)
                lines = re.findall(r"%s:(\d+)|\bline (\d+)" % re.escape(os.path.basename(path)), msg)
                found = [int(a or b) for a, b in lines]
                want = line if isinstance(line, tuple) else (line,)
                self.assertTrue(set(want) & set(found),
                                "%s: expected line %s in %r" % (name, " or ".join(map(str, want)), msg))

    def test_broken_config_refuses_to_start(self):
        path = self.write("bad.yaml", BROKEN[1][1])
        rc, out, err = run(["-c", path])
        self.assertNotEqual(rc, 0)
        self.assertIn("bad.yaml:6", out + err)

    def test_missing_config_file(self):
        rc, out, err = run(["--check-config", "-c", os.path.join(self.tmp, "nope.yaml")])
        self.assertNotEqual(rc, 0)
        self.assertIn("nope.yaml", out + err)

    def test_version_and_help(self):
        rc, out, err = run(["--version"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"uwrelay \S+")
        rc, out, err = run(["--help"])
        self.assertEqual(rc, 0, err)
        self.assertIn("--check-config", out)
        self.assertIn("-c", out)
        rc, out, err = run(["--no-such-option"])
        self.assertNotEqual(rc, 0)


class TestTokens(harness.IntegrationTest):

    def relay_with(self, sim_url, token=None, env=None, **over):
        cfg = harness.relay_config(harness.free_port(), sim_url, **over)
        return self.start_relay(cfg, token=token, env=env)

    def test_no_token_disabled(self):
        sim = self.start_sim()
        relay = self.relay_with(sim.url(), token=None)
        s = relay.status()
        self.assertEqual(s["status"], "disabled")
        self.assertIsInstance(s["reason"], str)
        self.assertTrue(s["reason"].strip(), "disabled without a reason")
        self.assertFalse(s["uw_connection"]["connected"])
        self.assertEqual(relay.get("/healthz")[0], 200)
        self.assertEqual(relay.channels()["channels"][0]["id"], "flow-alerts")
        # it serves browsers and never dials UW
        c = self.client(relay, "/api/stream/ws/flow")
        harness.expect_subscribed(c, "flow-alerts")
        self.assertEqual(relay.status()["status"], "disabled")
        st = sim.stats()
        self.assertEqual(st["handshakes_ok"] + st["handshakes_refused"], 0)

    def test_empty_token_is_no_token(self):
        relay = self.relay_with("ws://127.0.0.1:9/socket", token="")
        self.assertEqual(relay.status()["status"], "disabled")

    def test_uw_key_fallback(self):
        sim = self.start_sim(token="key-from-UW_KEY")
        relay = self.relay_with(sim.url(), token=None, env={"UW_KEY": "key-from-UW_KEY"})
        relay.wait_connected(10)
        self.assertEqual(sim.stats()["handshakes_refused"], 0)

    def test_uw_api_token_wins_over_uw_key(self):
        sim = self.start_sim(token="primary")
        relay = self.relay_with(sim.url(), token="primary", env={"UW_KEY": "secondary"})
        relay.wait_connected(10)
        self.assertEqual(sim.stats()["handshakes_refused"], 0)

    def test_token_file(self):
        sim = self.start_sim(token="from-a-file")
        for name, content in (("plain", "from-a-file"), ("newline", "from-a-file\n")):
            with self.subTest(name):
                path = os.path.join(self.tmp, "token-" + name)
                with open(path, "w") as f:
                    f.write(content)
                os.chmod(path, 0o600)
                relay = self.start_relay(
                    harness.relay_config(harness.free_port(), sim.url(),
                                         upstream={"token_file": path}),
                    token=None, name="uwrelay-" + name)
                relay.wait_connected(10)
                relay.stop()

    def test_token_file_missing(self):
        """A token_file that cannot be read: the relay still serves, disabled with a reason."""
        path = os.path.join(self.tmp, "absent-token")
        cfg = harness.relay_config(harness.free_port(), "ws://127.0.0.1:9/socket",
                                   upstream={"token_file": path})
        relay = self.start_relay(cfg, token=None, wait_healthy=False)
        try:
            relay.wait_healthy(10)
        except AssertionError:
            # refusing to start is also acceptable, if it says why
            self.assertFalse(relay.alive())
            self.assertIn("absent-token", relay.log())
            return
        s = relay.status()
        self.assertEqual(s["status"], "disabled")
        self.assertTrue(s["reason"])


if __name__ == "__main__":
    harness.main()
