"""The browser port attacked: each test is a way found to hurt the relay's own HTTP/1.1 and
RFC 6455 front door (conn.c, listener.c), kept as a regression test of its fix.

Every test runs the real binary on 127.0.0.1 with bounded counts and time; the harness fails a
test whose relay printed a sanitizer report (run it against a -DUWRELAY_SANITIZE=ON build).
"""

import socket
import struct
import time

import harness
import wsclient
from harness import HOST, IntegrationTest, free_port, relay_config, wait_until


def close_frame(code):
    return wsclient.WSClient.frame_bytes(wsclient.OP_CLOSE, struct.pack("!H", code))


def read_all(sock, timeout):
    """Bytes until EOF, a reset or the timeout; returns (bytes, "eof" | "reset" | "timeout")."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return got, "eof"
            got += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        return got, "reset"
    return got, "timeout"


class AttackTest(IntegrationTest):
    def relay_with_sim(self, **over):
        sim = self.start_sim()
        relay = self.start_relay(relay_config(free_port(), sim.url(), **over))
        relay.wait_connected(10)
        return sim, relay


class TestWebSocketClose(AttackTest):
    def test_close_then_never_read_is_cut(self):
        """A client that sends its close frame and then never reads: the echo cannot be written,
        and with the close begun nothing more is queued, so the slow-consumer cap can no longer
        catch it. It used to hold its socket (and its place in max_per_ip) for ever."""
        sim, relay = self.relay_with_sim(clients={"max_queue_bytes": 4 * 1024 * 1024})
        c = harness.ws_connect_ex(HOST, relay.port, "/api/stream/ws/flow", rcvbuf=4096)
        self._clients.append(c)
        wait_until(lambda: relay.status()["total_clients"] == 1, 5)
        sim.publish("flow-alerts", count=1000, size=2000)    # fills both socket buffers
        time.sleep(1)
        c.send_raw(close_frame(1000))
        for _ in range(5):     # far past max_queue_bytes, had the queue still been growing
            sim.publish("flow-alerts", count=1000, size=2000)
        t0 = time.monotonic()
        wait_until(lambda: relay.status()["total_clients"] == 0, 10, 0.2,
                   "the closing client to be cut")
        self.assertEqual(relay.status()["connections"]["open"], 1)     # the status request
        print("\n  close then never read: cut after %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    harness.main()
