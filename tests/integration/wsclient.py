"""A small blocking WebSocket client (RFC 6455) and HTTP GET helper, standard library only.

Used by uwrelay's integration tests to play the browser. It does what a test needs and no more:
the opening handshake (with the Sec-WebSocket-Accept check), masked client frames, text, binary,
close, ping and pong, reassembly of fragmented messages, and access to the HTTP answer when the
server refuses the upgrade.
"""

import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import time

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEADER = 64 * 1024


class WSError(Exception):
    """A protocol violation or an unexpected end of the connection."""


class WSClosed(WSError):
    """The peer closed the connection (close frame or EOF)."""

    def __init__(self, code=None, reason=b"", eof=False):
        self.code = code
        self.reason = reason
        self.eof = eof
        what = "EOF" if eof else "close frame code=%r reason=%r" % (code, reason)
        super().__init__("connection closed by peer (%s)" % what)


class HandshakeRefused(WSError):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        super().__init__("upgrade refused: HTTP %s %s, body=%r" % (status, reason, body[:200]))


def _parse_head(head):
    """Split an HTTP response head into (status, reason, headers dict with lower-case names)."""
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise WSError("bad status line %r" % lines[0])
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    return status, reason, headers


class WSClient:
    """One client connection. Build it with connect()."""

    def __init__(self, sock, buf=b"", status=101, headers=None):
        self.sock = sock
        self._buf = bytearray(buf)
        self._pos = 0
        self.status = status
        self.headers = headers or {}
        self.closed = False          # we have sent a close frame or the socket is gone
        self.close_code = None       # close code the peer sent, if any
        self.close_reason = b""
        self._frag_op = None
        self._frag = bytearray()
        self.notices = []            # for callers: out-of-band messages set aside (see harness)

    # ---- sending ----
    @staticmethod
    def frame_bytes(opcode, payload, fin=True):
        """One masked client frame, as bytes on the wire."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        head = bytearray()
        head.append((0x80 if fin else 0) | opcode)
        n = len(payload)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head += struct.pack("!H", n)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", n)
        mask = os.urandom(4)
        head += mask
        if n:
            # XOR with the repeated mask, fast enough through int arithmetic.
            reps = mask * (n // 4 + 1)
            masked = (int.from_bytes(payload, "big") ^
                      int.from_bytes(reps[:n], "big")).to_bytes(n, "big")
        else:
            masked = b""
        return bytes(head) + masked

    def _send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(self.frame_bytes(opcode, payload, fin))

    def send_raw(self, data):
        """Bytes straight onto the socket (pre-built frames)."""
        self.sock.sendall(data)

    def send_text(self, text):
        self._send_frame(OP_TEXT, text)

    def send_json(self, obj):
        self._send_frame(OP_TEXT, json.dumps(obj, separators=(",", ":")))

    def send_binary(self, data):
        self._send_frame(OP_BINARY, data)

    def send_ping(self, data=b""):
        self._send_frame(OP_PING, data)

    def send_fragmented_text(self, parts):
        """Send one text message split over several frames, in a single write."""
        parts = [p.encode("utf-8") if isinstance(p, str) else p for p in parts]
        data = b"".join(self.frame_bytes(OP_TEXT if i == 0 else OP_CONT, p, fin=(i == len(parts) - 1))
                        for i, p in enumerate(parts))
        self.sock.sendall(data)

    # ---- receiving ----
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for a WebSocket frame")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(262144)
        if not chunk:
            raise WSClosed(eof=True)
        if self._pos and self._pos > len(self._buf) // 2:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += chunk

    def _need(self, n, deadline):
        while len(self._buf) - self._pos < n:
            self._fill(deadline)

    def _read_frame(self, deadline):
        """Read one raw frame: (fin, opcode, payload). Partial data stays buffered on timeout."""
        self._need(2, deadline)
        b0, b1 = self._buf[self._pos], self._buf[self._pos + 1]
        hlen = 2
        n = b1 & 0x7F
        if n == 126:
            hlen = 4
        elif n == 127:
            hlen = 10
        masked = bool(b1 & 0x80)
        if masked:
            hlen += 4
        self._need(hlen, deadline)
        if n == 126:
            n = struct.unpack_from("!H", self._buf, self._pos + 2)[0]
        elif n == 127:
            n = struct.unpack_from("!Q", self._buf, self._pos + 2)[0]
        self._need(hlen + n, deadline)
        p = self._pos  # only now: _fill() may compact the buffer and move _pos
        payload = bytes(self._buf[p + hlen:p + hlen + n])
        if masked:
            raise WSError("server sent a masked frame")
        if b0 & 0x70:
            raise WSError("RSV bits set without an extension: 0x%02x" % b0)
        self._pos = p + hlen + n
        if self._pos == len(self._buf):
            del self._buf[:]
            self._pos = 0
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self, timeout=5.0):
        """Return the next message as (opcode, payload bytes).

        Pings are answered with a pong and also returned as (OP_PING, data); pongs are returned
        too. A close frame is answered (if we had not sent one) and returned as (OP_CLOSE, payload);
        after that, recv raises WSClosed. EOF raises WSClosed(eof=True). socket.timeout when
        nothing complete arrives before the timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.close_code is not None or (self.closed and self.sock is None):
                raise WSClosed(self.close_code, self.close_reason)
            fin, op, payload = self._read_frame(deadline)
            if op in (OP_PING, OP_PONG, OP_CLOSE):
                if not fin or len(payload) > 125:
                    raise WSError("bad control frame op=%d fin=%s len=%d" % (op, fin, len(payload)))
                if op == OP_PING:
                    if not self.closed:
                        self._send_frame(OP_PONG, payload)
                    return op, payload
                if op == OP_PONG:
                    return op, payload
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_code = code
                self.close_reason = payload[2:]
                if not self.closed:
                    try:
                        self._send_frame(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                    self.closed = True
                return op, payload
            if op == OP_CONT:
                if self._frag_op is None:
                    raise WSError("continuation frame without a start")
                self._frag += payload
                if fin:
                    msg_op, msg = self._frag_op, bytes(self._frag)
                    self._frag_op = None
                    self._frag = bytearray()
                    return msg_op, msg
                continue
            if op in (OP_TEXT, OP_BINARY):
                if self._frag_op is not None:
                    raise WSError("new data frame inside a fragmented message")
                if fin:
                    return op, payload
                self._frag_op = op
                self._frag = bytearray(payload)
                continue
            raise WSError("unknown opcode %d" % op)

    def recv_message(self, timeout=5.0):
        """Next text/binary message (skipping ping/pong): (opcode, payload). Raises WSClosed on close."""
        deadline = time.monotonic() + timeout
        while True:
            op, payload = self.recv(max(0.001, deadline - time.monotonic()))
            if op in (OP_TEXT, OP_BINARY):
                return op, payload
            if op == OP_CLOSE:
                raise WSClosed(self.close_code, self.close_reason)

    def recv_text(self, timeout=5.0):
        """Next message, which must be text; returned as bytes (exactly as received)."""
        op, payload = self.recv_message(timeout)
        if op != OP_TEXT:
            raise WSError("expected a text message, got opcode %d: %r" % (op, payload[:200]))
        return payload

    def recv_json(self, timeout=5.0):
        return json.loads(self.recv_text(timeout))

    def expect_nothing(self, timeout):
        """Return the first data message that arrives within timeout, or None. Pings ignored."""
        try:
            return self.recv_message(timeout)
        except socket.timeout:
            return None

    # ---- closing ----
    def close(self, code=1000, reason=b"", wait=1.0):
        """Send a close frame (if not sent yet), wait up to `wait` for the peer's, close the socket."""
        if self.sock is None:
            return
        try:
            if not self.closed:
                payload = struct.pack("!H", code) + (reason.encode() if isinstance(reason, str) else reason) \
                    if code is not None else b""
                self._send_frame(OP_CLOSE, payload)
                self.closed = True
            deadline = time.monotonic() + wait
            while self.close_code is None and time.monotonic() < deadline:
                try:
                    self.recv(max(0.001, deadline - time.monotonic()))
                except (socket.timeout, WSError, OSError):
                    break
        except OSError:
            pass
        finally:
            self.abort()

    def abort(self):
        """Drop the TCP connection without a close handshake."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(wait=0.2)


def _read_head(sock, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the HTTP answer")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            if buf:
                break
            raise WSError("connection closed before any HTTP answer")
        buf += chunk
        if len(buf) > _MAX_HEADER:
            raise WSError("HTTP answer head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _read_body(sock, headers, rest, deadline):
    """Read a response body after the head: Content-Length, chunked, or until EOF."""
    def more():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out reading the HTTP body")
        sock.settimeout(remaining)
        return sock.recv(65536)

    body = rest
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while True:
            while b"\r\n" not in body:
                c = more()
                if not c:
                    return out
                body += c
            line, _, body = body.partition(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            while len(body) < size + 2:
                c = more()
                if not c:
                    return out + body[:size]
                body += c
            if size == 0:
                return out
            out += body[:size]
            body = body[size + 2:]
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            c = more()
            if not c:
                break
            body += c
        return body[:n]
    while True:
        try:
            c = more()
        except (socket.timeout, OSError):
            break
        if not c:
            break
        body += c
    return body


def connect(host, port, path="/", headers=None, timeout=5.0, origin=None):
    """Open a WebSocket. Returns a WSClient; raises HandshakeRefused when the answer is not 101.

    headers: extra request headers (dict), e.g. {"Origin": "http://example.com"}.
    """
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = [
            "GET %s HTTP/1.1" % path,
            "Host: %s:%d" % (host, port),
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % key,
            "Sec-WebSocket-Version: 13",
        ]
        extra = dict(headers or {})
        if origin is not None:
            extra["Origin"] = origin
        for k, v in extra.items():
            req.append("%s: %s" % (k, v))
        sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode("iso-8859-1"))
        head, rest = _read_head(sock, deadline)
        status, reason, hdrs = _parse_head(head)
        if status != 101:
            body = _read_body(sock, hdrs, rest, deadline)
            sock.close()
            raise HandshakeRefused(status, reason, hdrs, body)
        expect = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if hdrs.get("sec-websocket-accept") != expect:
            raise WSError("bad Sec-WebSocket-Accept %r (expected %r)" %
                          (hdrs.get("sec-websocket-accept"), expect))
        if "websocket" not in hdrs.get("upgrade", "").lower():
            raise WSError("101 without Upgrade: websocket (%r)" % hdrs.get("upgrade"))
        if hdrs.get("sec-websocket-extensions"):
            raise WSError("server chose an extension we did not offer: %r" %
                          hdrs["sec-websocket-extensions"])
        return WSClient(sock, rest, status, hdrs)
    except BaseException:
        try:
            sock.close()
        except OSError:
            pass
        raise


def try_connect(host, port, path="/", headers=None, timeout=5.0):
    """Like connect() but returns (client or None, status, headers, body) instead of raising on refusal."""
    try:
        c = connect(host, port, path, headers=headers, timeout=timeout)
        return c, 101, c.headers, b""
    except HandshakeRefused as e:
        return None, e.status, e.headers, e.body


def http_get(host, port, path, headers=None, timeout=5.0):
    """GET path; returns (status, headers dict with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        h = {"Connection": "close"}
        h.update(headers or {})
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        body = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        return r.status, hdrs, body
    finally:
        conn.close()


def http_get_json(host, port, path, timeout=5.0):
    status, hdrs, body = http_get(host, port, path, timeout=timeout)
    if status != 200:
        raise WSError("GET %s -> %d %r" % (path, status, body[:300]))
    return json.loads(body)


def main(argv):
    """python3 wsclient.py ws://HOST:PORT/PATH: prints each message as it arrives (Ctrl-C stops)."""
    import urllib.parse
    if len(argv) != 2 or not argv[1].startswith("ws://"):
        print("usage: wsclient.py ws://HOST:PORT/PATH[?QUERY]")
        return 2
    u = urllib.parse.urlsplit(argv[1])
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    c = connect(u.hostname, u.port or 80, path)
    try:
        while True:
            try:
                op, payload = c.recv_message(3600)
            except WSClosed as e:
                print("closed: %s" % e)
                return 0
            print(payload.decode("utf-8", "replace"), flush=True)
    except KeyboardInterrupt:
        c.close()
        return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv))
