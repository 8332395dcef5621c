#!/usr/bin/env python3
"""The tape in cluster mode (README "Your tape"): the ingest holding the UW link records each
frame once, with the seq Redis gave it and the cluster's epoch; edges record nothing."""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_cluster  # noqa: E402
from harness import recv_data, wait_until  # noqa: E402

FLOW = test_cluster.FLOW


class TapeClusterTest(test_cluster.ClusterBase):

    def test_ingest_records_once_with_the_cluster_seqs(self):
        if not os.access(test_cluster.REDIS, os.X_OK):
            self.fail("redis-server is needed (scripts/deps.sh --test)")
        ingest_db = os.path.join(self.tmp, "ingest.db")
        edge_db = os.path.join(self.tmp, "edge.db")
        self.redis = self.start_redis()
        self.sim = self.start_sim()
        ingest = self.start_ingest(self.redis, self.sim, tape={"path": ingest_db, "channels": [FLOW]})
        edge = self.start_edge(self.redis, tape={"path": edge_db, "channels": [FLOW]})
        self.wait_leader(ingest)
        edge.wait_log(r"tape: ignored on a cluster edge", 5)
        # the taped channel is joined by the ingest with no browser anywhere
        self.wait_joined(FLOW)
        self.publish_and_wait_stream(3)
        c = self.flow_client(edge)
        self.publish_and_wait_stream(4)
        live = [e for e, _ in recv_data(c, 4, channel=FLOW)]
        wait_until(lambda: ingest.status()["tape"]["recorded"] >= 7, 10, msg="ingest recorded 7")
        epoch = self.redis.cmd("GET", "uwrelay:epoch")
        epoch = epoch.decode() if isinstance(epoch, bytes) else epoch
        db = sqlite3.connect("file:%s?mode=ro" % ingest_db, uri=True)
        got = db.execute("SELECT epoch, seq FROM frames WHERE channel=? ORDER BY id", (FLOW,)).fetchall()
        db.close()
        self.assertEqual(got, [(epoch, s) for s in range(1, 8)], "each frame once, the stream's seqs")
        self.assertEqual([(e["epoch"], e["seq"]) for e in live], got[3:], "the seqs browsers saw")
        self.assertEqual(edge.status()["tape"]["state"], "off")
        self.assertFalse(os.path.exists(edge_db), "an edge does not write a tape")
        self.assertEqual(ingest.status()["tape"]["not_recorded"]["total"], 0)


if __name__ == "__main__":
    harness.main()
