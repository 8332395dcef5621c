#!/usr/bin/env python3
"""Stands in for the browser tests when node, playwright-core or chromium is missing.

Under CI (CI set to a true value when configuring or when testing) that is a failure; elsewhere
it exits 77, which ctest reports as skipped, with the reason. Usage: browser_missing.py WHAT [CI]"""
import os
import sys

missing = sys.argv[1] if len(sys.argv) > 1 else "?"
ci = os.environ.get("CI") or (sys.argv[2] if len(sys.argv) > 2 else "")
if ci.strip().lower() not in ("", "0", "false", "no", "off"):
    print("FAIL: browser tests cannot run under CI, missing: %s (scripts/deps.sh --test)" % missing)
    sys.exit(1)
print("browser tests skipped, missing: %s (scripts/deps.sh --test)" % missing)
sys.exit(77)
