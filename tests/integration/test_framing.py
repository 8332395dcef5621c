#!/usr/bin/env python3
"""uwrelay frames UW's socket itself (wsframe.c on a raw connection): UW's pings get pongs with
the same payload, UW's close is echoed with its code and the relay reconnects, a protocol
violation is closed with 1002 (1007 for text that is not UTF-8), SIGTERM sends a 1001 close,
and the data keeps flowing in order around all of it. The simulator writes the hand-made frames
as raw bytes (/ctl/raw)."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import expect_subscribed, recv_data, wait_until  # noqa: E402

FLOW = "flow-alerts"


def frame(opcode, payload=b"", fin=True):
    """An unmasked server frame, as hex for /ctl/raw."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126, n >> 8, n & 0xff])
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return (head + payload).hex()


class TestFraming(harness.IntegrationTest):

    def start(self):
        self.sim, self.relay = self.sim_and_relay(upstream={
            "reconnect": {"initial_delay": 0.05, "max_delay": 0.2, "jitter": 0.0}})
        self.c = self.client(self.relay, "/api/stream/ws/flow")
        expect_subscribed(self.c, FLOW)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="joined")
        wait_until(lambda: self.relay.conn()["acks_ok"] >= 1, 5, msg="acked")

    def test_ping_gets_pong_with_payload(self):
        self.start()
        self.sim.ctl("raw", hex=frame(0x9, b"are you there"))
        wait_until(lambda: self.sim.stats()["pongs"] >= 1, 5, msg="pong")
        self.assertEqual(self.sim.stats()["last_pong"], "are you there")
        self.sim.publish(FLOW, 3)
        self.assertEqual([e["seq"] for e, _ in recv_data(self.c, 3, channel=FLOW)], [1, 2, 3])
        self.assertEqual(self.relay.conn()["disconnects"], 0)

    def test_fragmented_message_with_ping_inside(self):
        self.start()
        msg = b'["flow-alerts",{"ticker":"SPY","note":"in three pieces"}]'
        hexes = frame(0x1, msg[:10], fin=False) + frame(0x9, b"p") + \
            frame(0x0, msg[10:30], fin=False) + frame(0x0, msg[30:])
        self.sim.ctl("raw", hex=hexes)
        env, _ = recv_data(self.c, 1, channel=FLOW)[0]
        self.assertEqual(env["data"], {"ticker": "SPY", "note": "in three pieces"})
        wait_until(lambda: self.sim.stats()["pongs"] >= 1, 5, msg="pong")
        self.assertEqual(self.relay.conn()["malformed_frames"], 0)

    def test_close_from_uw_is_echoed_and_relay_reconnects(self):
        self.start()
        self.sim.ctl("raw", hex=frame(0x8, (4000).to_bytes(2, "big") + b"bye"))
        wait_until(lambda: 4000 in self.sim.stats()["client_close_codes"], 5, msg="close echoed")
        wait_until(lambda: self.relay.conn()["connects"] >= 2, 5, msg="reconnected")
        self.assertIn("code 4000", self.relay.conn()["last_error"] or
                      self.relay.log(), self.relay.log()[-2000:])
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 5, msg="joined again")
        self.sim.publish(FLOW, 1)
        recv_data(self.c, 1, channel=FLOW)

    def check_violation(self, hexes, code, words):
        self.start()
        self.sim.ctl("raw", hex=hexes)
        wait_until(lambda: code in self.sim.stats()["client_close_codes"], 5,
                   msg="relay closed with %d" % code)
        wait_until(lambda: self.relay.conn()["connects"] >= 2, 5, msg="reconnected")
        self.relay.wait_log(words)
        self.sim.publish(FLOW, 1)
        recv_data(self.c, 1, channel=FLOW)
        self.assertTrue(self.relay.alive())

    def test_reserved_bits_closed_1002(self):
        self.check_violation("c100", 1002, r"reserved bits")

    def test_masked_server_frame_closed_1002(self):
        self.check_violation("818101020304" + "79", 1002, r"masked frame")

    def test_unknown_opcode_closed_1002(self):
        self.check_violation("8300", 1002, r"unknown opcode")

    def test_text_not_utf8_closed_1007(self):
        self.check_violation(frame(0x1, b'["flow-alerts",{"x":"\xc3\x28"}]'), 1007, r"not UTF-8")

    def test_sigterm_sends_close_1001(self):
        self.start()
        self.relay.proc.signal(signal.SIGTERM)
        rc, killed = self.relay.stop(grace=5)
        self.assertFalse(killed)
        self.assertEqual(rc, 0)
        wait_until(lambda: 1001 in self.sim.stats()["client_close_codes"], 5, msg="1001 close")


if __name__ == "__main__":
    harness.main()
