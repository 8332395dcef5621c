#!/usr/bin/env python3
"""A token UW refuses (401): status says unauthorized with UW's own reason text, the log says so
once per change, retries go on at the slow end of the backoff, and a good token recovers."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import free_port, wait_until  # noqa: E402

UW_TEXT = "Your token does not have the websocket scope. Please contact support."


class TestUnauthorized(harness.IntegrationTest):

    def test_reason_text_once_and_slow_retries(self):
        sim = self.start_sim(token="the-right-token")
        relay = self.start_relay(harness.relay_config(free_port(), sim.url(), upstream={
            "reconnect": {"initial_delay": 0.05, "max_delay": 0.4, "jitter": 0.0}}),
            token="a-wrong-token")
        s = wait_until(lambda: (lambda s: s if UW_TEXT in (s.get("reason") or "") else None)(
            relay.status()), 5, msg="UW's 401 text in status")
        self.assertEqual(s["status"], "unauthorized")
        self.assertIn(UW_TEXT, s["uw_connection"]["last_error"])
        # several refused attempts, spaced at max_delay (0.4 s), not initial_delay (0.05 s)
        t0 = time.monotonic()
        n0 = sim.stats()["handshakes_refused"]
        wait_until(lambda: sim.stats()["handshakes_refused"] >= n0 + 3, 5, msg="three more retries")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 3 * 0.4 * 0.8, "retries at the slow end of the backoff")
        log = relay.log()
        self.assertEqual(len(re.findall(r"UW refused the token", log)), 1, log[-3000:])
        self.assertEqual(len(re.findall(r"UW says: " + re.escape(UW_TEXT), log)), 1, log[-3000:])
        self.assertIsInstance(relay.status()["uw_connection"]["next_retry_in"], (int, float))

    def test_recovers_when_uw_accepts_again(self):
        sim = self.start_sim(token="test-token")
        sim.ctl("refuse", count=-1, status=401)
        relay = self.start_relay(harness.relay_config(free_port(), sim.url(), upstream={
            "reconnect": {"initial_delay": 0.05, "max_delay": 0.3, "jitter": 0.0}}))
        relay.wait_status("unauthorized")
        wait_until(lambda: UW_TEXT in (relay.status().get("reason") or ""), 5, msg="UW's text")
        sim.ctl("refuse", count=0)
        relay.wait_connected()
        s = relay.status()
        self.assertIsNone(s["uw_connection"]["last_error"])
        self.assertEqual(s["uw_connection"]["reconnect_attempts"], 0)


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
