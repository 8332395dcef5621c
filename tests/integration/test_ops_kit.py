#!/usr/bin/env python3
"""The operator kit in ops/: the Prometheus alerting rules pass `promtool check rules` and their
unit tests (`promtool test rules`), and the Grafana dashboard is provisionable JSON whose queries
parse as PromQL and name only series the relay exports (src/metrics.c)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REPO = harness.REPO
OPS = os.path.join(REPO, "ops")
RULES = os.path.join(OPS, "uwrelay-alerts.yml")
DASHBOARD = os.path.join(OPS, "grafana-dashboard.json")


def promtool():
    path = shutil.which("promtool") or os.path.join(REPO, ".cache", "tools", "promtool")
    if not os.access(path, os.X_OK):
        raise AssertionError("promtool missing: run scripts/deps.sh --test")
    return path


def exported_series():
    """Every uwrelay_* name written by src/metrics.c (histograms with their suffixes)."""
    with open(os.path.join(REPO, "src", "metrics.c")) as f:
        return set(re.findall(r"\buwrelay_[a-z0-9_]+", f.read()))


def series_in(expr):
    return set(re.findall(r"\buwrelay_[a-z0-9_]+", expr))


class OpsKitTest(unittest.TestCase):

    def promtool(self, *args, cwd=None):
        r = subprocess.run([promtool()] + list(args), capture_output=True, text=True, timeout=60, cwd=cwd)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_rules_check(self):
        out = self.promtool("check", "rules", RULES)
        self.assertRegex(out, r"SUCCESS: \d+ rules found")

    def test_rules_unit_tests(self):
        self.promtool("test", "rules", "uwrelay-alerts.test.yml", cwd=OPS)

    def test_rules_unit_tests_can_fail(self):
        # the same tests against rules whose thresholds moved must fail: they assert something
        with open(RULES) as f:
            text = f.read()
        broken = text.replace("increase(uwrelay_slow_consumer_disconnects_total[10m]) > 10",
                              "increase(uwrelay_slow_consumer_disconnects_total[10m]) > 40")
        self.assertNotEqual(broken, text)
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(OPS, "uwrelay-alerts.test.yml"), d)
            with open(os.path.join(d, "uwrelay-alerts.yml"), "w") as f:
                f.write(broken)
            r = subprocess.run([promtool(), "test", "rules", "uwrelay-alerts.test.yml"], cwd=d,
                               capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("UwrelaySlowConsumers", r.stdout + r.stderr)

    def test_rules_cover_the_issue_and_name_real_series(self):
        with open(RULES) as f:
            text = f.read()
        alerts = set(re.findall(r"^\s*- alert: (\w+)$", text, re.M))
        for a in ("UwrelayUpstreamDown", "UwrelayReconnectLoop", "UwrelayUnauthorized",
                  "UwrelaySlowConsumers", "UwrelayRedisDown", "UwrelayTapeLoss"):
            self.assertIn(a, alerts)
        exprs = re.findall(r"^\s*expr: (.*)$", text, re.M)
        self.assertEqual(len(exprs), len(alerts))
        known = exported_series()
        for e in exprs:
            self.assertLessEqual(series_in(e), known, e)

    def test_dashboard_is_provisionable_and_queries_parse(self):
        with open(DASHBOARD) as f:
            d = json.load(f)
        self.assertEqual(d["uid"], "uwrelay")
        self.assertNotIn("__inputs", d)  # import-only placeholders break file provisioning
        self.assertNotIn("id", d)
        names = {v["name"] for v in d["templating"]["list"]}
        self.assertEqual(names, {"datasource", "instance"})
        known = exported_series()
        exprs, cells = [], set()
        for p in d["panels"]:
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            g = p["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, "panel %r overlaps another" % p["title"])
                    cells.add((x, y))
            for t in p["targets"]:
                self.assertLessEqual(series_in(t["expr"]), known, t["expr"])
                self.assertTrue(series_in(t["expr"]), t["expr"])
                exprs.append(t["expr"])
        self.assertEqual(len({p["id"] for p in d["panels"]}), len(d["panels"]))
        # PromQL syntax: promtool parses the queries as recording rules, with Grafana's
        # variables replaced by what Grafana would put there
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "q.yml")
            with open(path, "w") as f:
                f.write("groups:\n  - name: dashboard\n    rules:\n")
                for i, e in enumerate(exprs):
                    e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
                    f.write("      - record: q%d\n        expr: %s\n" % (i, json.dumps(e)))
            out = self.promtool("check", "rules", path)
        self.assertIn("SUCCESS: %d rules found" % len(exprs), out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
