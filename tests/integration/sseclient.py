"""A small blocking Server-Sent Events reader (WHATWG HTML, "Server-sent events"), stdlib only.

Plays an EventSource for uwrelay's integration tests: one GET, the HTTP answer's head, then
events parsed strictly as the standard says (lines end at CR, LF or CRLF; "field: value" with
one optional space; data lines joined with LF; an event is dispatched by an empty line; lines
starting with ':' are comments). Keeps the raw bytes too, so a test can check the framing.
"""

import socket
import time

import wsclient


class SSEClosed(Exception):
    """The server ended the stream."""


class SSEClient:
    def __init__(self, host, port, path, headers=None, timeout=5.0, rcvbuf=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        hdrs = {"Host": "%s:%d" % (host, port), "Accept": "text/event-stream"}
        hdrs.update(headers or {})
        req = "GET %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
        self.sock.sendall(req.encode())
        self.buf = b""
        self.raw = b""          # every body byte read so far
        self.eof = False
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.raw = self.buf
        self.status, self.reason, self.headers = wsclient._parse_head(head)
        self.comments = []      # comment lines seen (without the ':')
        self.last_id = ""       # the last event ID, as an EventSource keeps it
        self._data, self._event, self._pos = [], "", 0

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete SSE event in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete SSE event in time")
        if not chunk:
            self.eof = True
            raise SSEClosed("stream ended")
        self.buf += chunk
        self.raw += chunk

    def _line(self, deadline):
        """The next line (without its end), by CR, LF or CRLF."""
        while True:
            i = min([p for p in (self.buf.find(b"\r"), self.buf.find(b"\n")) if p >= 0], default=-1)
            # a CR at the very end may be the first half of a CRLF
            if i >= 0 and not (self.buf[i:i + 1] == b"\r" and i + 1 == len(self.buf)):
                line = self.buf[:i]
                skip = 2 if self.buf[i:i + 2] == b"\r\n" else 1
                self.buf = self.buf[i + skip:]
                return line.decode("utf-8")
            self._fill(deadline)

    def next_event(self, timeout=5.0):
        """The next dispatched event as {"event", "data", "id"}; comments are collected."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline)
            if line == "":
                if not self._data:
                    self._event = ""
                    continue
                ev = {"event": self._event or "message", "data": "\n".join(self._data),
                      "id": self.last_id}
                self._data, self._event = [], ""
                return ev
            if line.startswith(":"):
                self.comments.append(line[1:])
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._event = value
            elif field == "id" and "\0" not in value:
                self.last_id = value

    def events(self, n, timeout=10.0, kind=None):
        """The next n events (of type kind, if given; others are skipped)."""
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            ev = self.next_event(max(0.01, deadline - time.monotonic()))
            if kind is None or ev["event"] == kind:
                out.append(ev)
        return out

    def read_to_end(self, timeout=10.0):
        """Reads until the server closes; returns all body bytes."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except SSEClosed:
            pass
        return self.raw

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    abort = close


def connect(host, port, path, headers=None, timeout=5.0, rcvbuf=None):
    return SSEClient(host, port, path, headers, timeout, rcvbuf)
