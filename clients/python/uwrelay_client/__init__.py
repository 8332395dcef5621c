"""uwrelay_client: an asyncio client for uwrelay (standard library + python3-websockets).

It connects to a relay endpoint, reconnects with exponential backoff and jitter, resumes every
channel where it left off (``since``/``epoch``, see docs/PROTOCOL.md), drops duplicates, and
reports what could not be recovered as gap notices.

    import asyncio
    from uwrelay_client import Client

    async def main():
        async with Client("ws://127.0.0.1:8080/api/stream/ws/flow") as c:
            async for env in c:                     # data envelopes, oldest first
                print(env["seq"], env["data"].get("ticker"))

    asyncio.run(main())

The generic endpoint takes channels: ``Client("ws://127.0.0.1:8080/api/stream/ws",
channels=["price:SPY"])``, then ``await c.subscribe("gex:SPY")`` / ``await c.unsubscribe(...)``.
"""

import asyncio
import json
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import websockets
import websockets.exceptions

__all__ = ["Client", "Envelope", "UwrelayError", "backoff_delay", "GENERIC_PATH"]

GENERIC_PATH = "/api/stream/ws"
HISTORY_PATH = "/api/stream/history"
HISTORY_PAGE_MAX = 10000          # the relay's largest page (docs/PROTOCOL.md)

# Handshake answers that a retry cannot fix: the client stops instead of hammering the relay.
PERMANENT_STATUS = {400: "bad request", 401: "a valid access token is needed (--token)",
                    403: "refused (origin, token or channel not allowed)",
                    404: "no such endpoint on this relay", 421: "this Host is not the relay's"}
# Close codes after which reconnecting cannot help (4002: the endpoint was removed by a reload).
PERMANENT_CLOSE = {4002: "the endpoint was removed from the relay's configuration"}
SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class UwrelayError(Exception):
    """A failure a retry cannot fix (bad URL, 401, unknown endpoint...), or a history error.
    ``status`` is the HTTP status when there was one."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Envelope(dict):
    """A data envelope ``{channel, seq, epoch, timestamp, data}``; ``raw`` is the text exactly as
    the relay sent it (the CLI prints it unchanged)."""

    raw = ""


def backoff_delay(attempt, initial=0.5, maximum=15.0, jitter=0.2, r=None):
    """Seconds before reconnect attempt ``attempt`` (1, 2, ...):
    ``min(initial * 2**(attempt-1), maximum) * (1 +- jitter)``; ``r`` in [0, 1) (random)."""
    if r is None:
        r = random.random()
    base = min(initial * (2 ** max(0, attempt - 1)), maximum)
    return max(0.0, base * (1 + jitter * (2 * r - 1)))


def _safe_url(url):
    """The URL without its access token, for messages (tokens are never shown)."""
    return re.sub(r"(access_token=)[^&#]*", r"\1***", url)


def parse_url(url):
    """(ws_base, http_base, path, query dict) of a relay URL; raises UwrelayError when it is not
    ws://, wss://, http:// or https:// with a host."""
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as e:
        raise UwrelayError("bad URL %s: %s" % (_safe_url(url), e)) from None
    scheme = SCHEMES.get(u.scheme.lower())
    if not scheme or not u.hostname:
        raise UwrelayError("bad URL %s: expected ws://HOST[:PORT]/PATH (or wss, http, https)"
                           % _safe_url(url))
    netloc = u.netloc.rsplit("@", 1)[-1]
    del port
    path = u.path.rstrip("/") or GENERIC_PATH
    query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    http_scheme = "https" if scheme == "wss" else "http"
    return "%s://%s" % (scheme, netloc), "%s://%s" % (http_scheme, netloc), path, query


class Client:
    """A relay client: ``await connect()`` (or ``async with``), then ``async for env in client``.

    Options:
      channels   initial channels (generic endpoint ``/api/stream/ws`` only)
      token      subscriber token, sent as ``Authorization: Bearer`` (never logged)
      since, epoch   where to start (the first connection); later ones resume by themselves
      filters    {channel: filter} sent with each subscription (``?filter=`` on a path endpoint);
                 a channel the relay says is filtered has seq jumps that are not gaps
      resume     resume with since/epoch after a reconnect (default True)
      backoff    (initial, maximum, jitter) in seconds and fraction; default (0.5, 15, 0.2)
      notices    also yield ``$relay`` notices (gap, upstream, subscribed...) while iterating
      on_gap, on_notice, on_state   callbacks (a dict, a dict, a state name)
      max_queue  envelopes held for a slow reader (default 10000); beyond it reading from the
                 socket pauses, and the relay drops a reader that stays behind (it then resumes)
      max_msg_rate   messages per second sent to the relay (default 10; the relay allows 20)
    """

    def __init__(self, url, channels=(), *, token=None, since=None, epoch=None, filters=None,
                 resume=True, backoff=(0.5, 15.0, 0.2), notices=False, on_gap=None,
                 on_notice=None, on_state=None, max_queue=10000, open_timeout=10.0,
                 max_msg_rate=10.0):
        self._ws_base, self._http_base, self.path, query = parse_url(url)
        if token is None and query.get("access_token"):
            token = query["access_token"]
        self._token = token
        self.generic = self.path == GENERIC_PATH
        chans = list(channels or [])
        if not chans and query.get("channels"):
            chans = [c for c in query["channels"].split(",") if c]
        if chans and not self.generic:
            raise UwrelayError("%s is a path endpoint: its channel is fixed (use %s for channels)"
                               % (self.path, GENERIC_PATH))
        if since is None and query.get("since"):
            since, epoch = query["since"], query.get("epoch", epoch)
        self._since = int(since) if since is not None else None
        self._epoch = epoch
        self.filters = dict(filters or {})
        if not self.filters and query.get("filter") and not self.generic:
            self.filters[None] = query["filter"]
        self.resume = resume
        self.backoff = tuple(backoff)
        self.notices = notices
        self.on_gap, self.on_notice, self.on_state = on_gap, on_notice, on_state
        self.open_timeout = open_timeout
        self.max_msg_rate = max_msg_rate
        self._desired = list(dict.fromkeys(chans))
        self._memory = {}          # channel -> (seq, epoch): the last seen
        if self.generic and self._since is not None:
            for ch in self._desired:
                self._memory[ch] = (self._since, self._epoch)
        self._url_channels = set()
        self._filtered = set()     # channels the relay says are filtered
        self._queue = asyncio.Queue(maxsize=max_queue)
        self._ws = None
        self._task = None
        self._closed = False
        self._error = None
        self._send_at = 0.0
        self._wakeup = asyncio.Event()
        self.state = "idle"
        self.upstream = "unknown"
        self.gaps = []
        self.stats = {"envelopes": 0, "duplicates": 0, "opens": 0}

    # ---------------------------------------------------------------- public API

    async def connect(self):
        """Opens the first connection; raises UwrelayError when it fails (401, 404, bad URL,
        connection refused...). Later drops reconnect in the background."""
        if self._task:
            return self
        ws = await self._open(first=True)
        self._task = asyncio.ensure_future(self._run(ws))
        return self

    async def close(self):
        """Closes for good: no reconnect; iteration ends after what is already queued."""
        if self._closed:
            return
        self._closed = True
        self._set_state("closed")
        if self._ws is not None:
            await self._ws.close(1000, "client closed")
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._wake()

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._queue.empty():
            if self._error:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:            # wake-up after close or a permanent failure
            if self._error:
                raise self._error
            raise StopAsyncIteration
        return item

    async def subscribe(self, channel, since=None, epoch=None, filter=None):
        """Subscribes on the generic endpoint (resent after each reconnect)."""
        self._need_generic()
        if not channel or not isinstance(channel, str):
            raise ValueError("channel name")
        if filter is not None:
            self.filters[channel] = filter
        if since is not None:
            self._memory[channel] = (int(since), epoch)
        if channel not in self._desired:
            self._desired.append(channel)
        if self._ws is not None:
            msg = self._subscribe_msg(channel)
            if since is not None:       # asked for explicitly: sent whatever `resume` says
                msg["since"] = int(since)
                if epoch:
                    msg["epoch"] = epoch
            await self._send(msg)

    async def unsubscribe(self, channel):
        """Unsubscribes (and forgets where the channel was)."""
        self._need_generic()
        if channel not in self._desired:
            return
        self._desired.remove(channel)
        self._memory.pop(channel, None)
        if self._ws is not None:
            await self._send({"action": "unsubscribe", "channel": channel})

    def last_seen(self, channel):
        """``(seq, epoch)`` last seen on a channel, or None."""
        return self._memory.get(channel)

    @property
    def channels(self):
        return list(self._desired) if self.generic else list(self._memory)

    def reconnect_now(self):
        """Connected: drops the socket (a reconnect with resume follows). Waiting to
        reconnect: tries at once. For a program that knows its network changed, and tests."""
        if self._ws is not None:
            self._ws.transport.abort()
        else:
            self._wakeup.set()

    async def history(self, channel, since=None, epoch=None, from_=None, to=None, limit=1000):
        """Envelopes of ``channel`` from the relay's history API (oldest first), following
        ``next`` pages up to ``limit`` in total. ``from_``/``to``: ISO 8601 times. Raises
        UwrelayError on an HTTP error (``status``; 409 when ``epoch`` is no longer the
        channel's)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, self.history_sync, channel, since, epoch, from_, to, limit)

    def history_sync(self, channel, since=None, epoch=None, from_=None, to=None, limit=1000):
        """history() without asyncio (blocking)."""
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        params = {"channel": channel}
        if since is not None:
            params["since"] = str(int(since))
            if epoch:
                params["epoch"] = epoch
        if from_:
            params["from"] = from_
        if to:
            params["to"] = to
        out = []
        while len(out) < limit:
            params["limit"] = str(min(limit - len(out), HISTORY_PAGE_MAX))
            # NDJSON: each line is the envelope exactly as the stream sends it (Envelope.raw)
            params["format"] = "ndjson"
            envs, nxt = self._history_get(params)
            out.extend(envs)
            if not nxt or not envs:
                break
            params = dict(urllib.parse.parse_qsl(nxt, keep_blank_values=True))
        return out[:limit]

    # ---------------------------------------------------------------- connection

    def _need_generic(self):
        if not self.generic:
            raise UwrelayError("%s is a read-only path endpoint" % self.path)

    def _headers(self):
        return [("Authorization", "Bearer " + self._token)] if self._token else []

    def _url(self):
        """The URL of the next socket, with what resume needs."""
        q = []
        if self.generic:
            # channels with a position resume through subscribe messages, each with its own since
            fresh = [c for c in self._desired if c not in self._memory]
            if fresh and not any(c in self.filters for c in fresh):
                q.append(("channels", ",".join(fresh)))
                self._url_channels = set(fresh)
            else:
                self._url_channels = set()
        else:
            pos = next(iter(self._memory.values()), None) if self.resume else None
            if pos is None and self._since is not None and not self.stats["opens"]:
                pos = (self._since, self._epoch)      # the caller's start, first socket only
            if pos is not None:
                q.append(("since", str(pos[0])))
                if pos[1]:
                    q.append(("epoch", pos[1]))
            if self.filters.get(None) is not None:
                q.append(("filter", str(self.filters[None])))
        qs = urllib.parse.urlencode(q, safe=",:")
        return self._ws_base + self.path + ("?" + qs if qs else "")

    def _subscribe_msg(self, channel):
        msg = {"action": "subscribe", "channel": channel}
        pos = self._memory.get(channel)
        if pos and self.resume:
            msg["since"] = pos[0]
            if pos[1]:
                msg["epoch"] = pos[1]
        if channel in self.filters:
            msg["filter"] = self.filters[channel]
        return msg

    async def _open(self, first=False):
        url = self._url()
        self._set_state("connecting" if first else "reconnecting")
        try:
            ws = await websockets.connect(url, extra_headers=self._headers(),
                                          open_timeout=self.open_timeout, max_size=2 ** 24,
                                          max_queue=64)
        except websockets.exceptions.InvalidStatusCode as e:
            status = e.status_code
            if status in PERMANENT_STATUS:
                raise UwrelayError("%s: HTTP %d, %s" % (_safe_url(url), status,
                                                       PERMANENT_STATUS[status]), status) from None
            if first:
                raise UwrelayError("%s: HTTP %d" % (_safe_url(url), status), status) from None
            raise ConnectionError("%s: HTTP %d" % (_safe_url(url), status)) from None
        except websockets.exceptions.InvalidURI:
            raise UwrelayError("bad URL %s" % _safe_url(url)) from None
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake) as e:
            if first:
                raise UwrelayError("cannot connect to %s: %s" % (_safe_url(url),
                                                                  e or type(e).__name__)) from None
            raise
        self._ws = ws
        self._send_at = 0.0
        self.stats["opens"] += 1
        self._set_state("open")
        if self.generic:
            for ch in self._desired:
                if ch not in self._url_channels:
                    await self._send(self._subscribe_msg(ch))
        return ws

    async def _run(self, ws):
        attempt = 0
        try:
            while not self._closed:
                if ws is not None:
                    attempt = 0
                    code = await self._read(ws)
                    self._ws = None
                    if self._closed:
                        break
                    if code in PERMANENT_CLOSE:
                        raise UwrelayError("closed by the relay (%d): %s"
                                           % (code, PERMANENT_CLOSE[code]))
                    self._set_upstream("unknown")
                attempt += 1
                self._set_state("reconnecting")
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(),
                                           backoff_delay(attempt, *self.backoff))
                except asyncio.TimeoutError:
                    pass
                try:
                    ws = await self._open()
                except (OSError, asyncio.TimeoutError,
                        websockets.exceptions.InvalidHandshake):
                    ws = None
        except UwrelayError as e:
            self._error = e
            self._set_state("closed")
            self._wake()
        except asyncio.CancelledError:
            pass

    async def _read(self, ws):
        """Reads until the socket closes; returns the close code."""
        try:
            async for text in ws:
                await self._on_message(text)
        except websockets.exceptions.ConnectionClosed:
            pass
        rcvd = ws.close_code
        return rcvd if rcvd is not None else 1006

    def _wake(self):
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            pass   # the reader has plenty to read first; it sees _closed/_error when done

    async def _send(self, obj):
        # a client-side pace below the relay's clients.max_msg_rate (it closes sockets that
        # exceed it): at most max_msg_rate messages per second
        gap = 1.0 / self.max_msg_rate
        now = time.monotonic()
        if self._send_at > now:
            await asyncio.sleep(self._send_at - now)
        self._send_at = max(now, self._send_at) + gap
        ws = self._ws
        if ws is not None:
            try:
                await ws.send(json.dumps(obj))
            except websockets.exceptions.ConnectionClosed:
                pass   # the reader notices and reconnects; subscriptions are resent then

    # ---------------------------------------------------------------- messages

    async def _on_message(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        try:
            env = json.loads(text)
        except ValueError:
            env = None
        if not isinstance(env, dict) or not isinstance(env.get("channel"), str):
            await self._notice({"type": "error", "code": "bad_frame",
                                "message": "not a JSON envelope"}, None)
            return
        if env["channel"] == "$relay":
            await self._on_relay(env)
            return
        ch, seq, ep = env["channel"], env.get("seq"), env.get("epoch")
        if self.generic and ch not in self._desired:
            return                                   # in flight after an unsubscribe
        if isinstance(seq, int):
            pos = self._memory.get(ch)
            if pos and pos[1] == ep:
                if seq <= pos[0]:
                    self.stats["duplicates"] += 1
                    return
                if seq > pos[0] + 1 and ch not in self._filtered and pos[0] > 0:
                    # The relay announces what it cannot replay; a hole without a notice is
                    # reported too. Not on filtered channels (their seq jumps over what the
                    # filter left out) nor after a cluster edge's `subscribed` with seq 0.
                    await self._notice({"type": "gap", "channel": ch, "reason": "skipped",
                                        "from": pos[0] + 1, "to": seq - 1,
                                        "message": "frames missing without a notice"}, ep)
            self._memory[ch] = (seq, ep)
        e = Envelope(env)
        e.raw = text
        self.stats["envelopes"] += 1
        await self._queue.put(e)

    async def _on_relay(self, env):
        d = env.get("data") if isinstance(env.get("data"), dict) else {}
        t, ch, ep = d.get("type"), d.get("channel"), env.get("epoch")
        if t == "subscribed" and isinstance(ch, str):
            pos = self._memory.get(ch)
            if d.get("filter") or d.get("filtered"):
                self._filtered.add(ch)
            else:
                self._filtered.discard(ch)
            # nothing seen yet (or a new epoch): start from the relay's seq, so a drop before
            # the first frame still resumes from here
            if not pos and not self.generic and self._since is not None and \
                    self._epoch in (None, ep):
                # the first connection asked for since=SEQ: the replay starts after it
                self._memory[ch] = (self._since, ep)
            elif isinstance(d.get("seq"), int) and ep and (not pos or pos[1] != ep) \
                    and (not self.generic or ch in self._desired):
                self._memory[ch] = (d["seq"], ep)
            if d.get("upstream"):
                self._set_upstream(d["upstream"])
        elif t == "upstream":
            self._set_upstream(d.get("state"))
        elif t == "gap" and isinstance(ch, str):
            pos = self._memory.get(ch)
            if isinstance(d.get("to"), int) and pos and pos[1] == ep and d["to"] > pos[0]:
                self._memory[ch] = (d["to"], ep)     # announced: not reported again as skipped
        elif t == "unsubscribed" and d.get("reason") and self.generic and ch in self._desired:
            self._desired.remove(ch)
            self._memory.pop(ch, None)
        elif t == "error" and self.generic and ch in self._desired and \
                d.get("code") in ("channel_not_allowed", "too_many_channels"):
            self._desired.remove(ch)
            self._memory.pop(ch, None)
        await self._notice(d, ep, env)

    async def _notice(self, d, epoch, env=None):
        if env is None:
            env = {"channel": "$relay", "epoch": epoch, "data": d}
        if d.get("type") == "gap":
            gap = dict(d, epoch=epoch)
            self.gaps.append(gap)
            if self.on_gap:
                self.on_gap(gap)
        if self.on_notice:
            self.on_notice(d)
        if self.notices:
            e = Envelope(env)
            e.raw = json.dumps(env, separators=(",", ":"))
            await self._queue.put(e)

    def _set_state(self, state):
        if state == self.state:
            return
        self.state = state
        if self.on_state:
            self.on_state(state)

    def _set_upstream(self, state):
        if state:
            self.upstream = state

    # ---------------------------------------------------------------- history (HTTP)

    def _history_get(self, params):
        """One page: (envelopes, the next page's query or None). Reads NDJSON (next in the
        Link header) or the JSON object form (envelopes, more, next)."""
        qs = urllib.parse.urlencode(params, safe=",:")
        url = self._http_base + HISTORY_PATH + "?" + qs
        req = urllib.request.Request(url, headers=dict(self._headers()))
        try:
            with urllib.request.urlopen(req, timeout=self.open_timeout) as r:
                body = r.read()
                ctype = r.headers.get("Content-Type", "")
                link = r.headers.get("Link", "")
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                j = json.loads(e.read() or b"{}")
                detail = ": %s%s" % (j.get("error", ""),
                                     " (%s)" % j["message"] if j.get("message") else "")
            except (ValueError, AttributeError):
                pass
            raise UwrelayError("history %s: HTTP %d%s" % (_safe_url(url), e.code, detail),
                               e.code) from None
        except (urllib.error.URLError, OSError) as e:
            raise UwrelayError("history %s: %s" % (_safe_url(url),
                                                    getattr(e, "reason", e))) from None
        try:
            if ctype.startswith("application/x-ndjson"):
                envs = []
                for line in body.decode("utf-8").splitlines():
                    if line.strip():
                        e = Envelope(json.loads(line))
                        e.raw = line
                        envs.append(e)
                m = re.search(r'<([^>]*)>\s*;\s*rel="?next"?', link)
                nxt = m.group(1).split("?", 1)[-1] if m else None
                return envs, nxt
            page = json.loads(body)
        except ValueError:
            raise UwrelayError("history %s: the answer is not JSON" % _safe_url(url)) from None
        if not isinstance(page, dict) or not isinstance(page.get("envelopes"), list):
            raise UwrelayError("history %s: the answer has no envelopes list" % _safe_url(url))
        envs = []
        for d in page["envelopes"]:
            e = Envelope(d)
            e.raw = json.dumps(d, separators=(",", ":"))
            envs.append(e)
        return envs, (page.get("next") if page.get("more") else None)
