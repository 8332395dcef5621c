#!/usr/bin/env python3
"""Scale-out through Redis Streams (cluster.role ingest / edge), against a real redis-server.

Each test starts its own redis-server on a free loopback port (no persistence unless the test
needs it, in the test's temp dir), the UW simulator, one or two ingest relays and two edges.
"""

import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import (HOST, expect_subscribed, free_port, recv_data, relay_config,  # noqa: E402
                     wait_notice, wait_until)

FLOW = "flow-alerts"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    """redis-server on 127.0.0.1:PORT; appendonly in dir when persist (survives a restart)."""

    def __init__(self, workdir, persist=False, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.persist = persist
        self.password = None
        self.proc = None
        self.start()

    def start(self):
        argv = [REDIS, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--dir", self.workdir, "--daemonize", "no", "--loglevel", "warning",
                "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always"]
        self.proc = harness.Proc("redis", argv, dict(os.environ), self.workdir)
        wait_until(self.ping, 10, 0.05, "redis-server answering PING")

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, AssertionError):     # not up yet, or LOADING its data
            return False

    def cmd(self, *args):
        """One command over a fresh connection; returns the decoded reply."""
        import socket
        s = socket.create_connection((HOST, self.port), timeout=2)
        try:
            f = s.makefile("rb")
            if self.password:
                s.sendall(_encode(("AUTH", self.password)))
                _read_reply(f)
            s.sendall(_encode(args))
            return _read_reply(f)
        finally:
            s.close()

    def stop(self, grace=5.0):
        if self.proc:
            self.proc.stop(grace)


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise AssertionError("redis error: %s" % rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise AssertionError("bad redis reply %r" % line)


class ClusterBase(harness.IntegrationTest):
    """A Redis, ingests and edges on loopback; helpers only (test_valgrind.py uses them too)."""

    def start_redis(self, persist=False):
        r = Redis(self.tmp, persist)
        self._procs.append(r)
        return r

    def cluster_cfg(self, redis, role, upstream_url, **over):
        cl = {"role": role, "redis": "%s:%d" % (HOST, redis.port), "lock_ttl": 2,
              "interest_ttl": 3, "redis_timeout": 1}
        cl.update(over.pop("cluster", {}))
        over.setdefault("clients", {"max_msg_rate": 10000})
        # the ingest leaves when the edges' wish expires (interest_ttl): no linger on top
        # (the linger has its own test, test_budget.py)
        over["upstream"] = dict({"leave_delay": 0}, **over.get("upstream", {}))
        return relay_config(free_port(), upstream_url, cluster=cl, **over)

    def start_ingest(self, redis, sim, name="ingest", **over):
        return self.start_relay(self.cluster_cfg(redis, "ingest", sim.url(), **over), name=name)

    def start_edge(self, redis, name="edge", **over):
        # an edge never dials UW: the url is not used (and it has no token)
        return self.start_relay(self.cluster_cfg(redis, "edge", "ws://127.0.0.1:9/socket", **over),
                                name=name, token=None)

    def wait_leader(self, *ingests, timeout=10):
        def holder():
            for i in ingests:
                if i.alive() and i.status()["cluster"]["leader"] and i.status()["status"] == "connected":
                    return i
            return None
        return wait_until(holder, timeout, 0.05, "one ingest holding the UW link")

    def setup_cluster(self, n_ingest=1, persist=False, **over):
        self.redis = self.start_redis(persist)
        self.sim = self.start_sim()
        self.ingests = [self.start_ingest(self.redis, self.sim, name="ingest%d" % i, **over)
                        for i in range(n_ingest)]
        self.edges = [self.start_edge(self.redis, name="edge%s" % n, **over) for n in "AB"]
        self.leader = self.wait_leader(*self.ingests)
        for e in self.edges:
            wait_until(lambda: e.status()["status"] == "connected", 10, 0.05,
                       "edge sees the UW link up")

    def flow_client(self, edge, query=""):
        c = self.client(edge, "/api/stream/ws/flow" + query)
        expect_subscribed(c, FLOW)
        return c

    def wait_joined(self, channel=FLOW, count=1, timeout=10):
        wait_until(lambda: self.sim.stats()["joined"].get(channel) == count, timeout, 0.05,
                   "%s joined %d time(s) at the simulator" % (channel, count))

    def wait_rejoined(self, joins_before, channel=FLOW, timeout=15):
        """After an outage: a join newer than joins_before, on the only connection left."""
        wait_until(lambda: (lambda st: st["joins"] > joins_before and st["connections"] == 1 and
                            st["joined"].get(channel) == 1)(self.sim.stats()),
                   timeout, 0.05, "%s joined again at the simulator" % channel)

    def assert_no_more_data(self, client, secs, why):
        """No data frame within secs ($relay notices, e.g. upstream ones, are allowed)."""
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                env, raw = harness.recv_envelope(client, max(0.01, deadline - time.monotonic()))
            except (OSError, wsclient.WSError):
                return
            if not harness.is_relay_msg(env):
                self.fail("%s: got %r" % (why, raw[:200]))

    def publish_until_received(self, client, n, channel=FLOW, timeout=30):
        """Right after an outage the holder may still lose a batch to the fence (it learns that
        its lock is gone from the refusal): publish n frames every 2 s until n arrive."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                raise AssertionError("received %d of %d frames after the outage" % (len(got), n))
            self.sim.publish(channel, n - len(got))
            t_end = time.monotonic() + 2
            while len(got) < n and time.monotonic() < t_end:
                try:
                    got += recv_data(client, 1, timeout=max(0.01, t_end - time.monotonic()),
                                     channel=channel)
                except AssertionError:
                    break
        return got

    def publish_and_wait_stream(self, n, channel=FLOW):
        """Publish n frames at the simulator and wait until the stream holds them."""
        key = "uwrelay:stream:" + channel
        before = self.redis.cmd("XLEN", key) or 0
        self.sim.publish(channel, n)
        wait_until(lambda: self.redis.cmd("XLEN", key) >= before + n, 10, 0.02,
                   "%d more entries in %s" % (n, key))

    # ------------------------------------------------------------------ tests


class ClusterTest(ClusterBase):

    def test_frames_reach_browsers_on_both_edges_in_order(self):
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        b = self.flow_client(self.edges[1])
        self.wait_joined()
        self.assertEqual(self.sim.stats()["connections"], 1, "exactly one UW connection")
        self.sim.publish(FLOW, 50)
        fa = recv_data(a, 50, channel=FLOW)
        fb = recv_data(b, 50, channel=FLOW)
        seqs = [e["seq"] for e, _ in fa]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 50)), "contiguous seq")
        # the same frame is the same envelope, byte for byte, on every edge
        self.assertEqual([raw for _, raw in fa], [raw for _, raw in fb])
        epoch = self.edges[0].status()["epoch"]
        self.assertEqual(epoch, self.edges[1].status()["epoch"])
        self.assertEqual(epoch, self.leader.status()["epoch"])
        self.assertEqual(fa[0][0]["epoch"], epoch)
        st = self.edges[0].status()["cluster"]
        self.assertEqual(st["role"], "edge")
        self.assertTrue(st["redis"]["connected"])
        self.assertGreaterEqual(st["frames_read"], 50)
        self.assertEqual(self.leader.status()["cluster"]["appended"] >= 50, True)
        # an ingest serves no browser
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            self.leader.ws("/api/stream/ws/flow")
        self.assertEqual(cm.exception.status, 503)

    def test_browser_moved_to_other_edge_resumes_without_loss(self):
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        keep = self.flow_client(self.edges[1])    # keeps the channel wanted meanwhile
        self.wait_joined()
        self.sim.publish(FLOW, 20)
        got = recv_data(a, 20, channel=FLOW)
        recv_data(keep, 20, channel=FLOW)
        last, epoch = got[-1][0]["seq"], got[-1][0]["epoch"]
        a.close()
        self.publish_and_wait_stream(15)
        # the browser comes back on the other edge
        b = self.client(self.edges[1], "/api/stream/ws/flow?since=%d&epoch=%s" % (last, epoch))
        expect_subscribed(b, FLOW)
        missed = recv_data(b, 15, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in missed], list(range(last + 1, last + 16)))
        self.sim.publish(FLOW, 5)
        live = recv_data(b, 5, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in live], list(range(last + 16, last + 21)))
        self.assert_no_more_data(b, 0.3, "no duplicate after the live frames")

    def test_resume_on_an_edge_that_never_read_the_channel(self):
        """The edge backfills from the stream before replaying: nothing is lost or doubled."""
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.sim.publish(FLOW, 30)
        got = recv_data(a, 30, channel=FLOW)
        first = got[0][0]["seq"]
        epoch = got[0][0]["epoch"]
        b = self.client(self.edges[1], "/api/stream/ws/flow?since=%d&epoch=%s" % (first + 9, epoch))
        expect_subscribed(b, FLOW)
        replay = recv_data(b, 20, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in replay], list(range(first + 10, first + 30)))
        self.assertEqual([raw for _, raw in replay], [raw for _, raw in got[10:]])
        self.assert_no_more_data(b, 0.3, "nothing after the replay but live frames")

    def test_channels_follow_the_edges(self):
        """Joined at UW while some edge's browser wants it, left after interest_ttl otherwise."""
        self.setup_cluster()
        c = self.flow_client(self.edges[0])
        self.wait_joined()
        c.close()
        t0 = time.monotonic()
        wait_until(lambda: not self.sim.stats()["joined"].get(FLOW), 15, 0.1,
                   "flow-alerts left after the edge's wish expired")
        self.assertGreater(time.monotonic() - t0, 1.0, "left only once the wish expired")

    def test_failover_to_standby_ingest(self):
        self.setup_cluster(n_ingest=2)
        standby = [i for i in self.ingests if i is not self.leader][0]
        self.assertFalse(standby.status()["cluster"]["leader"])
        self.assertEqual(standby.status()["uw_connection"]["connected"], False)
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.assertEqual(self.sim.stats()["connections"], 1, "the standby does not dial UW")
        self.sim.publish(FLOW, 10)
        before = recv_data(a, 10, channel=FLOW)
        # the holder dies without a word (no lock release)
        self.leader.proc.p.send_signal(signal.SIGKILL)
        self.leader.proc.p.wait(5)
        self._procs.remove(self.leader)
        self.leader.proc.stop()     # closes its log files
        t0 = time.monotonic()
        wait_until(lambda: standby.status()["cluster"]["leader"] and
                   standby.status()["status"] == "connected", 10, 0.05, "the standby took over")
        self.wait_joined()
        took = time.monotonic() - t0
        self.assertLess(took, 2 * 2 + 2, "took over within a few seconds (lock_ttl 2 s): %.2f" % took)
        st = self.sim.stats()
        self.assertEqual(st["connections"], 1, "never two UW connections")
        self.assertEqual(st["handshakes_ok"], 2, "one UW connection per holder, no more")
        # browsers were told of the gap: the link went down, then came back
        n = wait_notice(a, "disconnected", timeout=10)
        wait_notice(a, "connected", timeout=10)
        sys.stderr.write("failover notice: %r\n" % n["data"])
        self.sim.publish(FLOW, 10)
        after = recv_data(a, 10, timeout=15, channel=FLOW)
        seqs = [e["seq"] for e, _ in before + after]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 20)),
                         "seq goes on across the takeover: no duplicate, no hole")
        sys.stderr.write("failover: standby held the UW link %.2f s after the kill\n" % took)

    def test_frozen_holder_is_fenced_and_steps_down(self):
        """A holder paused past its lease (SIGSTOP: a VM pause, a stalled host) wakes up to find
        the lock taken: it closes its UW link and nothing it still had is written."""
        self.setup_cluster(n_ingest=2)
        old = self.leader
        standby = [i for i in self.ingests if i is not old][0]
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.sim.publish(FLOW, 10)
        before = recv_data(a, 10, channel=FLOW)
        old.proc.p.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: standby.status()["cluster"]["leader"] and
                       standby.status()["status"] == "connected", 10, 0.05, "the standby took over")
            # the frozen one's socket is still open: UW sees both until it wakes up
            self.wait_joined(count=2)
            self.assertEqual(self.sim.publish(FLOW, 10)["connections"], 2)
        finally:
            old.proc.p.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        wait_until(lambda: self.sim.stats()["connections"] == 1, 5, 0.02,
                   "the woken holder closed its UW link")
        woke = time.monotonic() - t0
        self.assertFalse(old.status()["cluster"]["leader"])
        after = recv_data(a, 10, timeout=10, channel=FLOW)
        self.assert_no_more_data(a, 0.5, "the old holder's copies were not appended")
        seqs = [e["seq"] for e, _ in before + after]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 20)))
        self.assertEqual(self.redis.cmd("XLEN", "uwrelay:stream:" + FLOW), 20)
        sys.stderr.write("frozen holder closed its UW link %.2f s after waking\n" % woke)

    def test_clean_shutdown_hands_over_at_once(self):
        self.setup_cluster(n_ingest=2)
        standby = [i for i in self.ingests if i is not self.leader][0]
        self.leader.stop()
        t0 = time.monotonic()
        wait_until(lambda: standby.status()["cluster"]["leader"], 5, 0.05, "standby took over")
        self.assertLess(time.monotonic() - t0, 1.9, "released lock taken before its expiry")

    def test_redis_restart_loses_nothing_the_stream_holds(self):
        self.setup_cluster(persist=True)
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.sim.publish(FLOW, 10)
        first = recv_data(a, 10, channel=FLOW)
        epoch = first[0][0]["epoch"]
        self.redis.stop()
        # browsers stay connected and are told
        n = wait_notice(a, "disconnected", timeout=10)
        self.assertIn("redis", n["data"].get("reason", ""))
        st = self.edges[0].status()
        self.assertFalse(st["cluster"]["redis"]["connected"])
        self.assertEqual(st["status"], "disconnected")
        status, _, _ = self.edges[0].get("/readyz")
        self.assertEqual(status, 503)
        self.redis.start()
        wait_notice(a, "connected", timeout=15)
        # the holder may have kept its UW link (Redis was back within its lease) or redialled
        self.wait_leader(*self.ingests)
        wait_until(lambda: (lambda st: st["connections"] == 1 and st["joined"].get(FLOW) == 1)(
            self.sim.stats()), 15, 0.05, "one UW connection with flow-alerts joined")
        # (frames UW sends while the holder's own Redis link is still down are dropped and
        # counted at the holder: they never get a seq, so seqs stay contiguous)
        second = self.publish_until_received(a, 10)
        seqs = [e["seq"] for e, _ in first + second]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 20)), "seq goes on after the restart")
        self.assertEqual(second[0][0]["epoch"], epoch, "same epoch: Redis kept its data")
        # a browser resuming on the other edge gets everything the stream kept
        b = self.client(self.edges[1], "/api/stream/ws/flow?since=%d&epoch=%s" % (seqs[0], epoch))
        expect_subscribed(b, FLOW)
        replay = recv_data(b, 19, channel=FLOW)
        self.assertEqual([e["seq"] for e, _ in replay], seqs[1:])

    def test_redis_that_lost_its_data_starts_a_new_epoch(self):
        """Redis back empty (no persistence): seqs start again under a new epoch, live clients
        go on, and a client resuming with the old epoch is told its frames are gone."""
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.sim.publish(FLOW, 10)
        old = recv_data(a, 10, channel=FLOW)
        old_epoch, old_last = old[-1][0]["epoch"], old[-1][0]["seq"]
        joins = self.sim.stats()["joins"]
        self.redis.stop()
        wait_notice(a, "disconnected", timeout=10)
        self.redis.start()
        wait_notice(a, "connected", timeout=15)
        self.wait_rejoined(joins)
        new = self.publish_until_received(a, 5)
        new_epoch = new[0][0]["epoch"]
        self.assertNotEqual(new_epoch, old_epoch)
        self.assertEqual([e["seq"] for e, _ in new], [1, 2, 3, 4, 5])
        self.assertEqual({e["epoch"] for e, _ in new}, {new_epoch})
        for e in self.edges + [self.leader]:
            wait_until(lambda: e.status()["epoch"] == new_epoch, 5, 0.05, "new epoch everywhere")
        b = self.client(self.edges[1], "/api/stream/ws/flow?since=%d&epoch=%s" % (old_last, old_epoch))
        expect_subscribed(b, FLOW)
        gap = harness.recv_relay(b, timeout=10)["data"]
        self.assertEqual((gap["type"], gap["reason"]), ("gap", "epoch"), gap)

    def test_edge_without_redis_keeps_browsers_and_reports(self):
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.redis.stop()
        wait_notice(a, "disconnected", timeout=10)
        m = self.edges[0].get("/metrics")[2].decode()
        self.assertIn("uwrelay_cluster_redis_up 0", m)
        self.assert_no_more_data(a, 0.2, "no data while Redis is down")   # and still open: below
        self.redis.start()
        wait_notice(a, "connected", timeout=15)
        self.assertIn("uwrelay_cluster_redis_up 1", self.edges[0].get("/metrics")[2].decode())

    def test_stalled_redis_is_detected(self):
        """Redis that stops answering (a cut cable gives no RST): links are dropped after
        redis_timeout, the holder steps down, everything resumes when Redis answers again."""
        self.setup_cluster()
        a = self.flow_client(self.edges[0])
        self.wait_joined()
        self.sim.publish(FLOW, 5)
        first = recv_data(a, 5, channel=FLOW)
        joins = self.sim.stats()["joins"]
        self.redis.proc.p.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            n = wait_notice(a, "disconnected", timeout=10)
            took = time.monotonic() - t0
            self.assertIn("redis", n["data"]["reason"])
            wait_until(lambda: not self.leader.status()["cluster"]["leader"], 5, 0.05,
                       "the holder stepped down")
            wait_until(lambda: self.sim.stats()["connections"] == 0, 5, 0.05, "UW link closed")
            self.assertIn("no answer within", self.edges[0].status()["cluster"]["redis"]["last_error"])
        finally:
            self.redis.proc.p.send_signal(signal.SIGCONT)
        wait_notice(a, "connected", timeout=15)
        self.wait_rejoined(joins)
        self.sim.publish(FLOW, 5)
        second = recv_data(a, 5, timeout=10, channel=FLOW)
        seqs = [e["seq"] for e, _ in first + second]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 10)))
        sys.stderr.write("stalled redis noticed by the edge after %.2f s (redis_timeout 1 s)\n" % took)

    def test_secrets_stay_out_of_redis_and_logs(self):
        pw = "redis-secret-password-123"
        pwfile = os.path.join(self.tmp, "redis.pw")
        with open(pwfile, "w") as f:
            f.write(pw + "\n")
        self.redis = self.start_redis()
        self.redis.cmd("CONFIG", "SET", "requirepass", pw)
        self.sim = self.start_sim()
        over = {"cluster": {"password_file": pwfile}}
        ingest = self.start_relay(self.cluster_cfg(self.redis, "ingest", self.sim.url(), **over),
                                  name="ingest", token="uw-token-not-in-redis")
        edge = self.start_relay(self.cluster_cfg(self.redis, "edge", "ws://127.0.0.1:9/socket",
                                                 **dict(over)), name="edge", token=None)
        self.wait_leader(ingest)
        c = self.flow_client(edge)
        wait_until(lambda: self.sim.stats()["joined"].get(FLOW) == 1, 10, 0.05, "joined")
        self.sim.publish(FLOW, 3)
        recv_data(c, 3, channel=FLOW)
        # nothing in Redis holds the UW token
        self.redis.password = pw
        keys = self.redis.cmd("KEYS", "*")
        self.assertIn("uwrelay:stream:flow-alerts", keys)
        dump = []
        for k in keys:
            t = self.redis.cmd("TYPE", k)
            dump.append(repr({"string": lambda: self.redis.cmd("GET", k),
                              "hash": lambda: self.redis.cmd("HGETALL", k),
                              "zset": lambda: self.redis.cmd("ZRANGE", k, 0, -1),
                              "stream": lambda: self.redis.cmd("XRANGE", k, "-", "+")}[t]()))
        self.assertNotIn("uw-token-not-in-redis", "".join(dump))
        for log in (ingest.log(), edge.log()):
            self.assertNotIn(pw, log)
            self.assertNotIn("uw-token-not-in-redis", log)
        self.assertNotIn(pw, edge.get("/api/stream/status")[2].decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
