"""python3 -m uwrelay_client URL: prints the relay's envelopes as NDJSON, one per line.

    python3 -m uwrelay_client ws://127.0.0.1:8080/api/stream/ws/flow
    python3 -m uwrelay_client ws://127.0.0.1:8080/api/stream/ws --channels price:SPY,gex:SPY
    python3 -m uwrelay_client http://127.0.0.1:8080 --history flow-alerts --limit 100

Each line is the envelope exactly as the relay sent it. Gaps (frames that could not be
recovered) and connection changes go to stderr; --notices also prints the relay's `$relay`
messages on stdout. Exit status: 0 after --count envelopes, end of input or Ctrl-C; 1 when the
relay refuses (401, 404...) or cannot be reached at start; 2 on bad arguments.
"""

import argparse
import asyncio
import os
import signal
import sys

from . import Client, UwrelayError

PROG = "uwrelay_client"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m " + PROG,
                                description="Print a uwrelay stream as NDJSON.")
    p.add_argument("url", help="relay endpoint, e.g. ws://127.0.0.1:8080/api/stream/ws/flow "
                               "(a bare ws://HOST:PORT means the generic endpoint)")
    p.add_argument("--token", help="subscriber token (visible to other local users in the "
                                   "process list: prefer --token-file or $UWRELAY_TOKEN)")
    p.add_argument("--token-file", help="file holding the subscriber token")
    p.add_argument("--channels", help="comma-separated channels (generic endpoint)")
    p.add_argument("--since", type=int, help="resume after this seq")
    p.add_argument("--epoch", help="the epoch --since belongs to")
    p.add_argument("--filter", help="server-side filter for the channel(s)")
    p.add_argument("--count", type=int, help="exit after this many envelopes")
    p.add_argument("--notices", action="store_true", help="print $relay notices on stdout too")
    p.add_argument("--history", metavar="CHANNEL",
                   help="print CHANNEL's stored envelopes (history API) and exit")
    p.add_argument("--from", dest="from_", help="history: from this ISO 8601 time")
    p.add_argument("--to", help="history: before this ISO 8601 time")
    p.add_argument("--limit", type=int, default=1000, help="history: at most this many (1000)")
    p.add_argument("--quiet", "-q", action="store_true", help="nothing on stderr but errors")
    a = p.parse_args(argv)
    if a.count is not None and a.count < 1:
        p.error("--count must be at least 1")
    if a.limit < 1:
        p.error("--limit must be at least 1")
    if a.epoch and a.since is None:
        p.error("--epoch needs --since")
    return a


def read_token(a):
    if a.token:
        return a.token
    if a.token_file:
        try:
            with open(a.token_file) as f:
                return f.read().strip()
        except OSError as e:
            raise UwrelayError("cannot read --token-file: %s" % e.strerror) from None
    return os.environ.get("UWRELAY_TOKEN") or None


def note(a, text):
    if not a.quiet:
        print("%s: %s" % (PROG, text), file=sys.stderr, flush=True)


async def run(a):
    out = sys.stdout
    channels = [c for c in (a.channels or "").split(",") if c]
    client = Client(a.url, channels, token=read_token(a), since=a.since, epoch=a.epoch,
                    notices=a.notices,
                    on_gap=lambda g: note(a, "gap on %s (%s): %s" % (
                        g.get("channel"), g.get("reason"), g.get("message", ""))),
                    on_state=lambda s: note(a, s) if s in ("reconnecting", "open") else None)
    if a.filter:
        if client.generic:
            client.filters.update({c: a.filter for c in channels})
        else:
            client.filters[None] = a.filter
    if a.history:
        envs = await client.history(a.history, since=a.since, epoch=a.epoch, from_=a.from_,
                                    to=a.to, limit=a.limit)
        for e in envs:
            out.write(e.raw + "\n")
        out.flush()
        return 0
    n = 0
    async with client:
        async for env in client:
            out.write(env.raw + "\n")
            out.flush()
            if env.get("channel") != "$relay":
                n += 1
                if a.count and n >= a.count:
                    break
    return 0


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    loop = asyncio.new_event_loop()
    task = loop.create_task(run(a))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        return 0
    except UwrelayError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
