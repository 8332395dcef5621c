#!/usr/bin/env python3
"""The harness itself: a relay that stops on its own is reported, not silently accepted.

Each check runs a small inner test case through unittest and asserts on its outcome, so a
harness that stops looking at exit codes makes this file fail."""
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def bad_config(tmp, sim):
    # a tokens_file that does not exist: the relay logs why and exits with 1
    return harness.relay_config(harness.free_port(), sim.url(),
                                auth={"tokens_file": os.path.join(tmp, "missing.txt")})


def inner_cases():
    """The inner test cases, built here so that unittest.main does not collect them."""

    class ExitUnnoticed(harness.IntegrationTest):
        """Starts a relay that exits with 1 and never looks at it."""

        def test_inner(self):
            sim = self.start_sim()
            relay = self.start_relay(bad_config(self.tmp, sim), wait_healthy=False)
            relay.proc.p.wait(10)

    class ExitNoticed(harness.IntegrationTest):
        """The same relay, but the test waits for the exit: that is what it expects."""

        def test_inner(self):
            sim = self.start_sim()
            relay = self.start_relay(bad_config(self.tmp, sim), wait_healthy=False)
            harness.wait_until(lambda: not relay.alive(), 10, msg="relay exits")
            self.assertEqual(relay.proc.p.returncode, 1)

    return ExitUnnoticed, ExitNoticed


def run_inner(case):
    out = io.StringIO()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    saved = sys.stderr
    sys.stderr = out           # the teardown's log dump goes here, not into this test's output
    try:
        result = unittest.TextTestRunner(stream=out, verbosity=0).run(suite)
    finally:
        sys.stderr = saved
    return result, out.getvalue()


class HarnessTest(unittest.TestCase):

    def test_unnoticed_exit_code_1_fails_the_test(self):
        result, text = run_inner(inner_cases()[0])
        self.assertEqual(result.testsRun, 1, text)
        self.assertFalse(result.wasSuccessful(),
                         "a relay that exited with 1 on its own went unreported:\n" + text[-3000:])
        self.assertRegex(text, r"exited on its own with code 1", text[-3000:])

    def test_awaited_exit_passes(self):
        result, text = run_inner(inner_cases()[1])
        self.assertEqual(result.testsRun, 1, text)
        self.assertTrue(result.wasSuccessful(), text[-3000:])


if __name__ == "__main__":
    harness.main()
