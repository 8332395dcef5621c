#!/usr/bin/env python3
"""The generic endpoint /api/stream/ws: ?channels=, subscribe/unsubscribe, refusals."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import expect_subscribed, recv_data, recv_envelope, recv_relay, wait_until  # noqa: E402


class TestGeneric(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        # these tests send requests in quick bursts: lift the per-client message rate limit
        # (it has its own test below)
        # leave_delay 0: these tests watch the leave follow the last unsubscribe
        self.sim, self.relay = self.sim_and_relay(clients={"max_msg_rate": 10000}, upstream={"leave_delay": 0})

    def joined(self, *channels):
        wait_until(lambda: all(self.sim.stats()["joined"].get(ch) == 1 for ch in channels), 5,
                   msg="sim sees %s joined" % (channels,))

    def expect_error(self, c, code, channel=None):
        env = recv_relay(c, 5)
        d = env["data"]
        self.assertEqual(d.get("type"), "error", env)
        self.assertEqual(d.get("code"), code, env)
        self.assertIsInstance(d.get("message"), str)
        self.assertTrue(d["message"])
        if channel is not None:
            self.assertEqual(d.get("channel"), channel, env)
        return d

    def test_query_channels(self):
        c = self.client(self.relay, "/api/stream/ws?channels=gex:SPY,price:SPY")
        subs = {recv_relay(c)["data"]["channel"] for _ in range(2)}
        self.assertEqual(subs, {"gex:SPY", "price:SPY"})
        self.joined("gex:SPY", "price:SPY")
        self.sim.publish("gex:SPY", 3)
        self.sim.publish("price:SPY", 2)
        got = recv_data(c, 5)
        by = {}
        for env, _ in got:
            by.setdefault(env["channel"], []).append(env["seq"])
        self.assertEqual(by, {"gex:SPY": [1, 2, 3], "price:SPY": [1, 2]})

    def test_subscribe_unsubscribe(self):
        c = self.client(self.relay, "/api/stream/ws?channels=price:SPY")
        expect_subscribed(c, "price:SPY")
        c.send_json({"action": "subscribe", "channel": "news"})
        expect_subscribed(c, "news")
        self.joined("news", "price:SPY")
        self.sim.publish("news", 2)
        self.assertEqual([e["seq"] for e, _ in recv_data(c, 2, channel="news")], [1, 2])

        c.send_json({"action": "unsubscribe", "channel": "news"})
        env = recv_relay(c)
        self.assertEqual((env["data"]["type"], env["data"]["channel"]), ("unsubscribed", "news"))
        # the relay leaves upstream (last subscriber); frames still published there go nowhere
        wait_until(lambda: self.sim.leaves_of("news") == 1, 5, msg="leave of news")
        self.sim.publish("news", 3)
        self.sim.publish("price:SPY", 1)
        env, raw = recv_envelope(c)
        self.assertEqual(env["channel"], "price:SPY", raw[:200])
        self.assertIsNone(c.expect_nothing(0.2))

    def test_unsubscribe_while_channel_stays_joined(self):
        """Another browser keeps news joined: the unsubscribed socket must still get none of it."""
        keeper = self.client(self.relay, "/api/stream/ws?channels=news")
        expect_subscribed(keeper, "news")
        c = self.client(self.relay, "/api/stream/ws?channels=news,price:SPY")
        for _ in range(2):
            self.assertEqual(recv_relay(c)["data"]["type"], "subscribed")
        self.joined("news", "price:SPY")
        c.send_json({"action": "unsubscribe", "channel": "news"})
        self.assertEqual(recv_relay(c)["data"]["type"], "unsubscribed")
        self.sim.publish("news", 4)
        self.assertEqual(len(recv_data(keeper, 4, channel="news")), 4)
        self.sim.publish("price:SPY", 1)
        env, raw = recv_envelope(c)
        self.assertEqual(env["channel"], "price:SPY", raw[:200])
        self.assertIsNone(c.expect_nothing(0.2))

    def test_disallowed_channels(self):
        c = self.client(self.relay, "/api/stream/ws")
        bad = ["secret_channel", "price:", "../x", "price:SPY/../x", "price:S PY", "price:*",
               "gex", "price:" + "A" * 33, "flow-alerts:x", "option_trades:SPY\n", "PRICE:SPY"]
        for ch in bad:
            c.send_json({"action": "subscribe", "channel": ch})
            self.expect_error(c, "channel_not_allowed", channel=ch)
        # still open and usable
        c.send_json({"action": "subscribe", "channel": "price:" + "A" * 32})
        expect_subscribed(c, "price:" + "A" * 32)
        c.send_json({"action": "subscribe", "channel": "price:BRK.B"})
        expect_subscribed(c, "price:BRK.B")
        self.joined("price:BRK.B")
        self.sim.publish("price:BRK.B", 1)
        self.assertEqual(recv_data(c, 1, channel="price:BRK.B")[0][0]["seq"], 1)
        st = self.sim.stats()
        for ch in bad:
            self.assertNotIn(ch, st["joined"])
            self.assertEqual(self.sim.joins_of(ch, st), 0, ch)

    def test_disallowed_in_query(self):
        """?channels= with an allowed and a refused name: the good one works, the bad one is refused."""
        c = self.client(self.relay, "/api/stream/ws?channels=secret_channel,news")
        msgs = [recv_relay(c)["data"] for _ in range(2)]
        types = sorted(m["type"] for m in msgs)
        self.assertEqual(types, ["error", "subscribed"], msgs)
        for m in msgs:
            if m["type"] == "error":
                self.assertEqual(m["code"], "channel_not_allowed")
                self.assertEqual(m.get("channel"), "secret_channel")
            else:
                self.assertEqual(m["channel"], "news")
        self.joined("news")
        self.sim.publish("news", 1)
        recv_data(c, 1, channel="news")
        self.assertNotIn("secret_channel", self.sim.stats()["joined"])

    def test_bad_requests(self):
        c = self.client(self.relay, "/api/stream/ws")
        for text in ['{not json', '[1,2]', '"subscribe"', '42', '{"action":"dance","channel":"news"}',
                     '{"action":"subscribe"}', '{"channel":"news"}',
                     '']:
            c.send_text(text)
            self.expect_error(c, "bad_request")
        c.send_json({"action": "unsubscribe", "channel": "news"})
        self.expect_error(c, "not_subscribed", channel="news")
        c.send_json({"action": "subscribe", "channel": "news"})
        expect_subscribed(c, "news")
        self.joined("news")
        self.sim.publish("news", 1)
        recv_data(c, 1, channel="news")
        self.assertTrue(self.relay.alive())

    def test_too_many_channels(self):
        c = self.client(self.relay, "/api/stream/ws")
        for i in range(64):
            c.send_json({"action": "subscribe", "channel": "price:T%d" % i})
            expect_subscribed(c, "price:T%d" % i)
        c.send_json({"action": "subscribe", "channel": "price:T64"})
        self.expect_error(c, "too_many_channels", channel="price:T64")
        # unsubscribing one makes room again
        c.send_json({"action": "unsubscribe", "channel": "price:T0"})
        self.assertEqual(recv_relay(c)["data"]["type"], "unsubscribed")
        c.send_json({"action": "subscribe", "channel": "price:T64"})
        expect_subscribed(c, "price:T64")



class TestClientLimits(harness.IntegrationTest):
    """Documented close codes for misbehaving browsers (docs/PROTOCOL.md, "Close codes")."""

    def setUp(self):
        super().setUp()
        self.sim, self.relay = self.sim_and_relay(clients={"max_message": 4096, "max_msg_rate": 20})

    def read_until_close(self, c, timeout=5.0):
        """Read until the relay's close frame; returns (close code, messages before it)."""
        msgs = []
        try:
            while True:
                op, payload = c.recv_message(timeout)
                msgs.append(payload)
        except wsclient.WSClosed as e:
            if e.eof and c.close_code is None:
                raise AssertionError("connection ended without a close frame; got %r" % msgs[-3:])
            return e.code, msgs
        except socket.timeout:
            raise AssertionError("not closed within %.0fs; received %r" % (timeout, msgs[-3:]))
        except OSError as e:  # reset after the close frame
            if c.close_code is not None:
                return c.close_code, msgs
            raise AssertionError("connection ended without a close frame: %r; got %r" % (e, msgs[-3:]))

    def assert_other_clients_fine(self):
        c = self.client(self.relay, "/api/stream/ws?channels=news")
        expect_subscribed(c, "news")
        wait_until(lambda: self.sim.stats()["joined"].get("news") == 1, 5)
        self.sim.publish("news", 1)
        recv_data(c, 1, channel="news")

    def test_message_too_large_1009(self):
        c = self.client(self.relay, "/api/stream/ws")
        c.send_text('{"action":"subscribe","channel":"news","pad":"%s"}' % ("x" * 5000))
        code, _ = self.read_until_close(c)
        self.assertEqual(code, 1009)
        self.assert_other_clients_fine()

    def test_fragmented_message_joined(self):
        """PROTOCOL.md: a message in fragments is joined (up to max_message)."""
        c = self.client(self.relay, "/api/stream/ws")
        c.send_fragmented_text(['{"action":"subs', 'cribe","chan', 'nel":"news"}'])
        expect_subscribed(c, "news")

    def test_fragmented_message_over_limit_1009(self):
        """Fragments adding up to more than max_message (4096) close with 1009."""
        c = self.client(self.relay, "/api/stream/ws")
        c.send_fragmented_text(['{"action":"subscribe","channel":"news","pad":"', "x" * 3000,
                                "y" * 3000, '"}'])
        code, msgs = self.read_until_close(c)
        self.assertEqual(code, 1009, msgs)
        self.assert_other_clients_fine()

    def test_message_longer_than_rx_buffer(self):
        """A message over lws' 512-byte rx buffer but under max_message is fine."""
        c = self.client(self.relay, "/api/stream/ws")
        c.send_text('{"action":"subscribe","channel":"news","pad":"%s"}' % ("z" * 3000))
        expect_subscribed(c, "news")

    def test_invalid_utf8_1007(self):
        c = self.client(self.relay, "/api/stream/ws")
        c._send_frame(wsclient.OP_TEXT, b'{"action":"subscribe","channel":"n\xff\xfe"}')
        code, msgs = self.read_until_close(c)
        self.assertEqual(code, 1007, msgs)
        self.assert_other_clients_fine()

    def test_message_rate_1008(self):
        """Requests in lock-step (each answered before the next), far faster than 20/s."""
        c = self.client(self.relay, "/api/stream/ws")
        answers = 0
        code = None
        for _ in range(200):
            c.send_text('{"action":"unsubscribe","channel":"news"}')
            try:
                env = harness.recv_relay(c, 5)
            except wsclient.WSClosed as e:
                code = e.code
                break
            self.assertEqual(env["data"]["code"], "not_subscribed")
            answers += 1
        self.assertEqual(code, 1008, "after %d answers" % answers)
        # the documented burst (twice the rate) was served before the cut
        self.assertGreaterEqual(answers, 20)
        self.assertLessEqual(answers, 60)
        self.assert_other_clients_fine()

if __name__ == "__main__":
    harness.main()
