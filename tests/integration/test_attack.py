"""The browser port attacked: each test is a way found to hurt the relay's own HTTP/1.1 and
RFC 6455 front door (conn.c, listener.c), kept as a regression test of its fix.

Every test runs the real binary on 127.0.0.1 with bounded counts and time; the harness fails a
test whose relay printed a sanitizer report (run it against a -DUWRELAY_SANITIZE=ON build).
"""

import os
import random
import signal
import socket
import struct
import threading
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
    def relay_with_sim(self, connected=True, **over):
        sim = self.start_sim()
        relay = self.start_relay(relay_config(free_port(), sim.url(), **over))
        if connected:
            relay.wait_connected(10)
        return sim, relay


def status_line(data):
    return data.split(b"\r\n", 1)[0]


class TestRequestHeads(AttackTest):
    def exchange(self, port, pieces, timeout=3):
        """Sends each piece in its own read (TCP_NODELAY and a pause), returns what came back."""
        s = harness.open_socket(HOST, port)
        try:
            for i, p in enumerate(pieces):
                if i:
                    time.sleep(0.005)
                s.sendall(p)
            return read_all(s, timeout)[0]
        finally:
            s.close()

    def test_answer_does_not_depend_on_where_the_head_is_cut(self):
        """Empty lines before a request line are skipped (RFC 9112 2.2) when they come with it,
        but a read holding only them was refused 400 as "not HTTP": the same bytes got 200 or
        400 depending on how TCP cut them (a client sending CRLF after a request, or a proxy)."""
        sim, relay = self.relay_with_sim()
        heads = [
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            b"\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            b"\n\r\nGET /healthz HTTP/1.0\n\n",
        ]
        for head in heads:
            whole = status_line(self.exchange(relay.port, [head]))
            self.assertEqual(whole, b"HTTP/1.1 200 OK", head)
            for k in range(1, len(head)):
                got = status_line(self.exchange(relay.port, [head[:k], head[k:]]))
                self.assertEqual(got, whole, "cut at %d of %r" % (k, head))
            got = status_line(self.exchange(relay.port, [head[i:i + 1] for i in range(len(head))]))
            self.assertEqual(got, whole, "a byte per read: %r" % head)

    def test_refused_body_does_not_reset_the_answer(self):
        """A request with a body is refused 413; the body kept arriving while the answer waited
        to be flushed, was buffered as if pipelined, passed 8 KiB, and the relay closed with
        unread bytes: a TCP reset, which can destroy the 413 before the client reads it."""
        sim, relay = self.relay_with_sim()
        for size in (20000, 1 << 20):
            for _ in range(3):
                s = harness.open_socket(HOST, relay.port)
                try:
                    s.sendall(b"POST /api/stream/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Content-Length: %d\r\n\r\n" % size + b"b" * size)
                    got, how = read_all(s, 5)
                finally:
                    s.close()
                self.assertEqual(status_line(got), b"HTTP/1.1 413 Content Too Large")
                self.assertEqual(how, "eof", "a %d-byte body" % size)


class TestAccess(AttackTest):
    def test_cookie_of_non_hex_characters(self):
        """An auth cookie of 64 characters that are not hex digits shifted hexval's -1 left: undefined
        behaviour, and a sanitized relay aborted on one request."""
        sim, relay = self.relay_with_sim(False, auth={"tokens": ["a-subscriber-token-0123456789"]})
        for value in ("z" * 64, "0g" * 32):
            code, _, body = relay.get("/api/stream/status",
                                      headers={"Cookie": "uwrelay_auth=" + value})
            self.assertEqual(code, 401, body)
        self.assertEqual(relay.get("/healthz")[0], 200)
        self.assertTrue(relay.alive())


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

    def test_endless_oversized_frame_closes_at_once(self):
        """A frame announcing 2^40 bytes (past clients.max_message) was skipped to its end before
        the relay said 1009: one client could stream junk at it for ever (measured: 9.7 GB in 5 s,
        half a core). It is closed as soon as the length is read."""
        sim, relay = self.relay_with_sim()
        c = self.client(relay, "/api/stream/ws")
        c.send_raw(bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 40) + b"\0\0\0\0" + b"j" * 65536)
        code, _ = harness.read_until_closed(c, 5)
        self.assertEqual(code, 1009)
        wait_until(lambda: relay.status()["total_clients"] == 0, 5)

    def test_endless_empty_fragments_close_1009(self):
        """A message of empty fragments never grew, never ended and was never charged against the
        message budget: one client kept the relay at 94 % of a core with 80 million frames a
        second, for ever. Each empty fragment now counts as a byte towards max_message."""
        sim, relay = self.relay_with_sim()
        c = self.client(relay, "/api/stream/ws")
        empty = wsclient.WSClient.frame_bytes(wsclient.OP_CONT, b"", fin=False)
        c.send_raw(wsclient.WSClient.frame_bytes(wsclient.OP_TEXT, b"", fin=False) + empty * 5000)
        code, _ = harness.read_until_closed(c, 5)
        self.assertEqual(code, 1009)
        wait_until(lambda: relay.status()["total_clients"] == 0, 5)
        # a message in a few empty and non-empty fragments is still read
        c = self.client(relay, "/api/stream/ws")
        c.send_raw(wsclient.WSClient.frame_bytes(wsclient.OP_TEXT, b"", fin=False) + empty * 3
                   + wsclient.WSClient.frame_bytes(wsclient.OP_CONT, b'{"action":"subscribe",', fin=False)
                   + empty
                   + wsclient.WSClient.frame_bytes(wsclient.OP_CONT, b'"channel":"news"}'))
        harness.expect_subscribed(c, "news")


class TestSlowReaders(AttackTest):
    def test_slow_consumers_do_not_flood_the_log(self):
        """Every subscriber closed for a full send queue logged a line of its own: sockets that
        never read, opened by the hundred, wrote the log by the hundred."""
        sim, relay = self.relay_with_sim(clients={"max_queue_bytes": 65536})
        for _ in range(150):
            c = harness.ws_connect_ex(HOST, relay.port, "/api/stream/ws/flow", rcvbuf=2048)
            self._clients.append(c)
        wait_until(lambda: relay.status()["total_clients"] == 150, 10)
        before = len(relay.log().splitlines())
        sim.publish("flow-alerts", count=400, size=2000)
        wait_until(lambda: relay.status()["slow_consumers_closed"] == 150, 10)
        lines = len(relay.log().splitlines()) - before
        self.assertLess(lines, 20, relay.log()[-3000:])
        self.assertIn("closing a subscriber whose send queue passed 65536 bytes", relay.log())

    def test_big_answers_to_readers_that_do_not_read_are_bounded(self):
        """Each connection asking for a big file and never reading held a full copy of the
        answer until request_timeout: 100 of them, 60 bytes each, cost the relay 400 MiB. Now
        answers waiting for their readers are capped (64 MiB): past it a big answer is a 503
        with Retry-After, small answers still go, and the room comes back as readers go."""
        files = os.path.join(self.tmp, "static")
        os.mkdir(files)
        big = os.urandom(4 * 1024 * 1024)
        with open(os.path.join(files, "big.bin"), "wb") as f:
            f.write(big)
        sim, relay = self.relay_with_sim(http={"static_dir": files})
        pid = relay.proc.p.pid
        rss0 = harness.proc_rss_kb(pid)
        socks = []
        heads = []
        try:
            for _ in range(40):
                s = harness.open_socket(HOST, relay.port, rcvbuf=4096)
                socks.append(s)
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            for s in socks:
                s.settimeout(5)
                heads.append(s.recv(4096))
            grown = harness.proc_rss_kb(pid) - rss0
            code, _, _ = relay.get("/healthz")
            self.assertEqual(code, 200)
        finally:
            for s in socks:
                s.close()
        ok = sum(h.startswith(b"HTTP/1.1 200 ") for h in heads)
        busy = [h for h in heads if h.startswith(b"HTTP/1.1 503 ")]
        self.assertEqual(ok + len(busy), 40, heads)
        self.assertLessEqual(ok, 16)            # 64 MiB / 4 MiB
        self.assertGreater(ok, 0)
        self.assertIn(b"Retry-After: 1\r\n", busy[0])
        # the slow readers are gone: their room is back
        for _ in range(20):
            code, _, body = relay.get("/big.bin")
            self.assertEqual((code, len(body)), (200, len(big)))
        print("\n  40 readers that do not read a 4 MiB file: %d answered, %d refused, RSS +%d MiB"
              % (ok, len(busy), grown // 1024))


class TestChurn(AttackTest):
    def test_heads_cut_anywhere_under_reloads(self):
        """1,500 connections from 40 addresses, each sending a random prefix of a request (an
        upgrade with frames, pipelined requests, /metrics, a close frame) and then closing or
        resetting, while the configuration is reloaded every 200 ms and the channels fan out.
        Afterwards nothing is left open or pending, the loop is idle and /healthz answers; a
        sanitized build must report nothing."""
        sim, relay = self.relay_with_sim(clients={"max_pending": 64, "max_pending_per_ip": 16})
        pid = relay.proc.p.pid
        up = (b"GET /api/stream/ws?channels=news,flow-alerts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        get = b"GET /api/stream/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        frame = wsclient.WSClient.frame_bytes
        kinds = [up + frame(wsclient.OP_TEXT, b'{"action":"subscribe","channel":"news"}')
                 + frame(wsclient.OP_PING, b"p"),
                 get * 3,
                 b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get,
                 up + close_frame(1000),
                 get + up,
                 b"\r\nGET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
        rnd = random.Random(6455)
        stop = threading.Event()

        def reloads():
            while not stop.wait(0.2):
                relay.proc.signal(signal.SIGHUP)
        t = threading.Thread(target=reloads)
        t.start()
        try:
            for _ in range(15):
                socks = []
                for _ in range(100):
                    s = harness.open_socket(HOST, relay.port,
                                            source_addr="127.0.0.%d" % rnd.randrange(2, 42))
                    data = rnd.choice(kinds)
                    try:
                        s.sendall(data[:rnd.randrange(len(data) + 1)])
                    except OSError:
                        pass
                    if rnd.random() < 0.5:    # reset instead of FIN
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    socks.append(s)
                sim.publish("news", count=10, size=500)
                time.sleep(0.05)
                for s in socks:
                    s.close()
        finally:
            stop.set()
            t.join()
        wait_until(lambda: relay.status()["connections"]["open"] == 1, 10, 0.2,
                   "every churned connection gone")
        st = relay.status()
        self.assertEqual((st["total_clients"], st["connections"]["pending"]), (0, 0), st)
        cpu0 = proc_cpu(pid)
        time.sleep(1)
        self.assertLess(proc_cpu(pid) - cpu0, 0.2)
        self.assertEqual(relay.get("/healthz")[0], 200)
        self.assertEqual(relay.log().count("reload rejected"), 0)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    harness.main()
