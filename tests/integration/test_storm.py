#!/usr/bin/env python3
"""What a reconnect storm leans on: unfinished requests time out by the pending list's own timer
(oldest first, one timer for all: conn.c pending_expire) instead of an lws timeout each, and an
idle keep-alive connection goes after the same time."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import HOST, wait_until  # noqa: E402


def closed_at(sock, deadline):
    """Blocks until the peer closes sock (EOF or reset); returns time.monotonic() then, or None."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while True:
            if not sock.recv(4096):
                return time.monotonic()
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic()
    except socket.timeout:
        return None


class TestPendingTimeout(harness.IntegrationTest):
    def test_unfinished_requests_close_after_request_timeout_oldest_first(self):
        # request_timeout 1 s: a has half a head, b comes 0.5 s later, c finishes its request
        _, relay = self.sim_and_relay(clients={"request_timeout": 1})
        t_a = time.monotonic()
        a = socket.create_connection((HOST, relay.port), timeout=5)
        a.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)	# the spacing under test, not a synchronisation
        t_b = time.monotonic()
        b = socket.create_connection((HOST, relay.port), timeout=5)
        b.sendall(b"GET /heal")
        c = socket.create_connection((HOST, relay.port), timeout=5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        closed_a = closed_at(a, t_a + 5)
        closed_b = closed_at(b, t_b + 5)
        self.assertIsNotNone(closed_a, "an unfinished request stayed open 5 s (timeout 1 s)")
        self.assertIsNotNone(closed_b, "the second unfinished request stayed open 5 s")
        # each after its own second: not before (a timeout that fires early would cut slow
        # clients), and within a generous bound (ASan builds on a loaded machine are slow)
        self.assertGreaterEqual(closed_a - t_a, 0.95)
        self.assertLess(closed_a - t_a, 3.0)
        self.assertGreaterEqual(closed_b - t_b, 0.95)
        self.assertLess(closed_b - t_b, 3.0)
        self.assertGreater(closed_b, closed_a, "closed out of order")
        # the finished request was answered, not timed out
        c.settimeout(5)
        head = c.recv(4096)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:80])
        for s in (a, b, c):
            s.close()
        wait_until(lambda: relay.status()["connections"]["pending"] == 0, 5,
                   msg="no pending connection left")

    def test_upgrade_after_an_answer_on_the_same_connection_lives_on(self):
        # the answer's own timeout (request_timeout + 1 s per 64 KiB) must end with the answer:
        # a WebSocket opened on the kept-alive connection outlives it
        sim, relay = self.sim_and_relay(clients={"request_timeout": 1})
        s = socket.create_connection((HOST, relay.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
        s.sendall(b"GET /api/stream/ws/flow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        got = b""
        while b"subscribed" not in got:
            got += s.recv(4096)
        self.assertTrue(got.startswith(b"HTTP/1.1 101"), got[:80])
        wait_until(lambda: sim.joins_of("flow-alerts") >= 1, 5, msg="flow-alerts joined")
        time.sleep(2.5)	# past both timeouts (1 s): the span under test, not a synchronisation
        sim.publish("flow-alerts", 1)
        got = b""
        s.settimeout(5)
        while b'"seq":1' not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "the WebSocket was closed after the answer's timeout")
            got += chunk
        s.close()

    def test_idle_keep_alive_closes_after_request_timeout(self):
        _, relay = self.sim_and_relay(clients={"request_timeout": 1})
        s = socket.create_connection((HOST, relay.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
        t0 = time.monotonic()
        t = closed_at(s, t0 + 5)
        self.assertIsNotNone(t, "an idle keep-alive connection stayed open 5 s (timeout 1 s)")
        self.assertGreaterEqual(t - t0, 0.9)
        s.close()


if __name__ == "__main__":
    harness.main()
