"""Process and fixture helpers for uwrelay's integration tests (standard library only).

Each test starts the real binaries on 127.0.0.1: the UW simulator (UWSIM_BIN) and the relay
(UWRELAY_BIN) with a generated YAML config, and talks to them with wsclient.py. Every wait is
bounded; every process started here is stopped in tearDown (SIGTERM, then SIGKILL after 5 s).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsclient  # noqa: E402

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _bin(var, default_rel):
    path = os.environ.get(var)
    if not path:
        path = os.path.join(REPO, default_rel)
    return os.path.abspath(path)


def relay_bin():
    return _bin("UWRELAY_BIN", "build/uwrelay")


def sim_bin():
    return _bin("UWSIM_BIN", "build/tests/uwsim/uwsim")


# ---------------------------------------------------------------- generic helpers

def sanitized_binary(path):
    """True if the executable was built with AddressSanitizer."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class WaitTimeout(AssertionError):
    pass


def wait_until(pred, timeout=5.0, interval=0.02, msg=None):
    """Call pred() until it returns something truthy; return that value.

    Raises WaitTimeout (an AssertionError) after `timeout` seconds, with msg and the last value.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1fs waiting for %s (last value: %r)"
                              % (timeout, msg or getattr(pred, "__name__", "condition"), last))
        time.sleep(interval)


def make_cert(dirpath, cn="localhost", san="DNS:localhost,IP:127.0.0.1"):
    """A self-signed certificate for localhost/127.0.0.1 (san=None: a CN and no
    subjectAltName); returns (cert_path, key_path)."""
    cert = os.path.join(dirpath, "c.pem")
    key = os.path.join(dirpath, "k.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn]
        + (["-addext", "subjectAltName=" + san] if san else []) + ["-days", "2",
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return cert, key


def to_yaml(obj, indent=0):
    """Emit a small YAML document (block style) from dicts, lists and scalars."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                inner = to_yaml(v, indent + 1).split("\n")
                out.append("%s- %s" % (pad, inner[0].lstrip()))
                out.extend(inner[1:])
            elif isinstance(v, list) and v:
                out.append("%s- %s" % (pad, json.dumps(v)))
            else:
                out.append("%s- %s" % (pad, _scalar(v)))
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


def _scalar(v):
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


DEFAULT_ENDPOINTS = [
    {"id": "flow-alerts", "path": "/api/stream/ws/flow", "channel": "flow-alerts",
     "name": "Options Flow Alerts", "description": "Unusual options flow alerts"},
    {"id": "dark-pool", "path": "/api/stream/ws/dark-pool", "channel": "off_lit_trades",
     "name": "Dark Pool", "description": "Off-lit (dark pool) stock trades"},
    {"id": "market-movers", "path": "/api/stream/ws/market-movers", "channel": "market_tide",
     "name": "Market Tide", "description": "Market-wide net premium flow"},
]

DEFAULT_ALLOWED = ["flow-alerts", "option_trades", "option_trades:*", "price:*", "gex:*",
                   "gex_strike:*", "gex_strike_expiry:*", "news", "lit_trades",
                   "off_lit_trades", "market_tide", "net_flow:*", "trading_halts"]

FAST_RECONNECT = {"initial_delay": 0.2, "max_delay": 1, "jitter": 0.1}


def deep_merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def relay_config(listen_port, upstream_url, **over):
    """The relay config as a dict: defaults for tests (fast reconnect), then `over` merged in."""
    cfg = {
        "listen": {"address": HOST, "port": listen_port},
        "upstream": {"url": upstream_url, "reconnect": dict(FAST_RECONNECT)},
        "endpoints": [dict(e) for e in DEFAULT_ENDPOINTS],
        "allowed_channels": list(DEFAULT_ALLOWED),
        "log": {"level": "info"},
    }
    return deep_merge(cfg, over)


# ---------------------------------------------------------------- processes

class Proc:
    """A child process with its output captured to files; stop() is SIGTERM then SIGKILL."""

    def __init__(self, name, argv, env, workdir, stdout_lines=False):
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(workdir, name + ".stdout")
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self._err = open(self.stderr_path, "wb")
        self.lines = []
        self._lines_cv = threading.Condition()
        if stdout_lines:
            self.p = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._err)
            self._out = open(self.stdout_path, "wb")
            self._reader = threading.Thread(target=self._read_stdout, daemon=True)
            self._reader.start()
        else:
            self._out = open(self.stdout_path, "wb")
            self.p = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                      stdout=self._out, stderr=self._err)
            self._reader = None
        self.returncode = None
        self.stop_info = None

    def _read_stdout(self):
        for raw in iter(self.p.stdout.readline, b""):
            self._out.write(raw)
            self._out.flush()
            with self._lines_cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._lines_cv.notify_all()
        with self._lines_cv:
            self._lines_cv.notify_all()

    def wait_line(self, regex, timeout):
        """Wait for a stdout line matching regex; return the match."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._lines_cv:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                if self.p.poll() is not None and not self._reader.is_alive():
                    raise AssertionError("%s exited (rc=%s) before printing %r; stderr:\n%s"
                                         % (self.name, self.p.returncode, regex, self.stderr()[-3000:]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("%s did not print %r within %.0fs; stdout=%r stderr:\n%s"
                                         % (self.name, regex, timeout, self.lines[-20:],
                                            self.stderr()[-3000:]))
                self._lines_cv.wait(min(remaining, 0.1))

    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, grace=5.0):
        """SIGTERM, wait up to `grace`, then SIGKILL. Returns (returncode, killed).

        The first call records stop_info = (was_running, returncode, killed)."""
        killed = False
        if self.stop_info is not None:
            return self.returncode, self.stop_info[2]
        was_running = self.p.poll() is None
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                killed = True
                self.p.kill()
                self.p.wait(5)
        self.returncode = self.p.returncode
        self.stop_info = (was_running, self.returncode, killed)
        if self._reader is not None:
            self._reader.join(2)
            try:
                self.p.stdout.close()
            except OSError:
                pass
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass
        return self.returncode, killed


class Sim:
    """The UW simulator (tests/uwsim)."""

    def __init__(self, workdir, token=None, tls=False, cert=None, key=None, rate=None,
                 size=None, record=False, extra=(), name="uwsim", wait=True):
        self.workdir = workdir
        self.port = free_port()
        argv = [sim_bin(), "--port", str(self.port)]
        self.tls_port = None
        if tls:
            self.tls_port = free_port()
            argv += ["--tls-port", str(self.tls_port), "--cert", cert, "--key", key]
        if token is not None:
            argv += ["--token", token]
        if rate is not None:
            argv += ["--rate", str(rate)]
        if size is not None:
            argv += ["--size", str(size)]
        self.record_path = None
        if record:
            self.record_path = os.path.join(workdir, name + ".record")
            argv += ["--record", self.record_path]
        argv += list(extra)
        self.proc = Proc(name, argv, dict(os.environ), workdir, stdout_lines=True)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.proc.stop()
                raise

    def wait_ready(self, timeout=15):
        m = self.proc.wait_line(r"uwsim: ready ws=(\d+)(?: wss=(\d+))?", timeout)
        self.port = int(m.group(1))
        if m.group(2) and int(m.group(2)) != 0:
            self.tls_port = int(m.group(2))

    def url(self, path="/socket"):
        return "ws://%s:%d%s" % (HOST, self.port, path)

    def wss_url(self, host="localhost", path="/socket"):
        return "wss://%s:%d%s" % (host, self.tls_port, path)

    def ctl(self, name, **params):
        """GET /ctl/NAME?params; returns the parsed JSON answer (asserts HTTP 200)."""
        q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None},
                                   quote_via=urllib.parse.quote)
        path = "/ctl/%s%s" % (name, "?" + q if q else "")
        status, _, body = wsclient.http_get(HOST, self.port, path, timeout=10)
        if status != 200:
            raise AssertionError("sim %s -> HTTP %d %r" % (path, status, body[:300]))
        try:
            return json.loads(body) if body.strip() else {}
        except ValueError:
            return {"raw": body.decode("utf-8", "replace")}

    def stats(self):
        return self.ctl("stats")

    def publish(self, channel, count=1, size=None):
        return self.ctl("publish", channel=channel, count=count, size=size)

    def joins_of(self, channel, stats=None):
        return log_count((stats or self.stats()).get("join_log", []), channel)

    def leaves_of(self, channel, stats=None):
        return log_count((stats or self.stats()).get("leave_log", []), channel)

    def records(self):
        """The --record file as a list of lines (bytes, without the newline)."""
        with open(self.record_path, "rb") as f:
            data = f.read()
        return [l for l in data.split(b"\n") if l]

    def stop(self):
        return self.proc.stop()


def log_entry_channel(e):
    """Channel named by one join_log/leave_log entry (a string or an object with 'channel')."""
    if isinstance(e, str):
        return e
    if isinstance(e, dict):
        return e.get("channel")
    if isinstance(e, (list, tuple)) and e:
        return e[0] if isinstance(e[0], str) else None
    return None


def log_count(log, channel):
    return sum(1 for e in log if log_entry_channel(e) == channel)


class Relay:
    """The relay under test, with a generated config file and its stderr kept as the log."""

    def __init__(self, workdir, config, token="test-token", env=None, name="uwrelay",
                 args=None, wait_healthy=True, start_timeout=15):
        self.workdir = workdir
        if isinstance(config, dict):
            self.config = config
            text = to_yaml(config) + "\n"
            self.port = config.get("listen", {}).get("port")
        else:
            self.config = None
            text = config
            m = re.search(r"^\s*port:\s*(\d+)", text, re.M)
            self.port = int(m.group(1)) if m else None
        self.config_path = os.path.join(workdir, name + ".yaml")
        with open(self.config_path, "w") as f:
            f.write(text)
        e = dict(os.environ)
        e.pop("UW_API_TOKEN", None)
        e.pop("UW_KEY", None)
        if token is not None:
            e["UW_API_TOKEN"] = token
        e.update(env or {})
        argv = [relay_bin(), "-c", self.config_path] + list(args or [])
        self.proc = Proc(name, argv, e, workdir)
        self.exit_seen = False
        if wait_healthy:
            try:
                self.wait_healthy(start_timeout)
            except BaseException:
                self.proc.stop()
                raise

    # -- lifecycle
    def wait_healthy(self, timeout=15):
        def healthy():
            if not self.proc.alive():
                raise AssertionError("uwrelay exited (rc=%s) during start-up; log:\n%s"
                                     % (self.proc.p.returncode, self.log()[-4000:]))
            try:
                status, _, _ = wsclient.http_get(HOST, self.port, "/healthz", timeout=1)
                return status == 200
            except OSError:
                return False
        wait_until(healthy, timeout, 0.05, "uwrelay /healthz 200")

    def stop(self, grace=5.0):
        return self.proc.stop(grace)

    def rewrite_config(self, config):
        """Replace the config file (dict or YAML text); send SIGHUP yourself (reload())."""
        text = to_yaml(config) + "\n" if isinstance(config, dict) else config
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        if isinstance(config, dict):
            self.config = config

    def reload(self, config=None):
        if config is not None:
            self.rewrite_config(config)
        self.proc.signal(signal.SIGHUP)

    def alive(self):
        """Whether the relay still runs; a test that sees it gone has taken note of the exit
        (teardown then does not report it as unexpected)."""
        running = self.proc.alive()
        if not running:
            self.exit_seen = True
        return running

    # -- HTTP
    def get(self, path, headers=None):
        return wsclient.http_get(HOST, self.port, path, headers=headers)

    def get_json(self, path):
        status, hdrs, body = self.get(path)
        if status != 200:
            raise AssertionError("GET %s -> %d %r" % (path, status, body[:300]))
        return json.loads(body)

    def status(self):
        return self.get_json("/api/stream/status")

    def channels(self):
        return self.get_json("/api/stream/channels")

    def conn(self):
        return self.status()["uw_connection"]

    def wait_status(self, value, timeout=10):
        return wait_until(lambda: (lambda s: s if s["status"] == value else None)(self.status()),
                          timeout, 0.02, "relay status %r" % value)

    def wait_connected(self, timeout=10):
        return self.wait_status("connected", timeout)

    # -- WebSocket
    def ws(self, path, headers=None, timeout=5.0):
        return wsclient.connect(HOST, self.port, path, headers=headers, timeout=timeout)

    # -- log
    def log(self):
        return self.proc.stderr()

    def wait_log(self, regex, timeout=5.0, flags=re.I):
        rx = re.compile(regex, flags)
        return wait_until(lambda: rx.search(self.log()), timeout, 0.05, "log line %r" % regex)


SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"free\(\): invalid|double free|corrupted size|stack smashing")


# ---------------------------------------------------------------- envelopes

ENVELOPE_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EPOCH_RE = re.compile(r"^[0-9a-f]{16}$")


def raw_data(envelope_bytes):
    """The raw bytes of the envelope's data member: after the first '"data":' up to the final '}'."""
    i = envelope_bytes.find(b'"data":')
    if i < 0:
        raise AssertionError("no \"data\": in envelope %r" % envelope_bytes[:300])
    body = envelope_bytes[i + len(b'"data":'):].rstrip()
    if not body.endswith(b"}"):
        raise AssertionError("envelope does not end with '}': %r" % envelope_bytes[-100:])
    return body[:-1]


def raw_record_payload(line):
    """Split a recorded UW frame '["chan",PAYLOAD]' into (channel, raw payload bytes)."""
    text = line.decode("utf-8")
    if not text.startswith("["):
        raise AssertionError("record line is not an array: %r" % line[:200])
    dec = json.JSONDecoder()
    i = 1
    while text[i] in " \t\r\n":
        i += 1
    chan, j = dec.raw_decode(text, i)
    while text[j] in " \t\r\n":
        j += 1
    if text[j] != ",":
        raise AssertionError("record line without ',' after the channel: %r" % line[:200])
    j += 1
    while text[j] in " \t\r\n":
        j += 1
    end = text.rstrip()
    if not end.endswith("]"):
        raise AssertionError("record line does not end with ']': %r" % line[-100:])
    payload = end[j:-1].rstrip()
    return chan, payload.encode("utf-8")


def is_relay_msg(env):
    return env.get("channel") == "$relay"


def recv_envelope(client, timeout=5.0):
    """Next message from the relay as (parsed envelope, raw bytes)."""
    raw = client.recv_text(timeout)
    try:
        return json.loads(raw), raw
    except ValueError:
        raise AssertionError("relay sent a text frame that is not JSON: %r" % raw[:300])


def is_upstream_notice(env):
    return is_relay_msg(env) and isinstance(env.get("data"), dict) \
        and env["data"].get("type") == "upstream"


def recv_relay(client, timeout=5.0, skip_upstream=True):
    """Next message, which must be a $relay message; returns its parsed envelope.

    $relay `upstream` notices (the UW link went down or came back) are set aside in
    client.notices unless skip_upstream is False.
    """
    deadline = time.monotonic() + timeout
    while True:
        env, raw = recv_envelope(client, max(0.001, deadline - time.monotonic()))
        if not is_relay_msg(env):
            raise AssertionError("expected a $relay message, got %r" % raw[:300])
        if skip_upstream and is_upstream_notice(env):
            client.notices.append(env)
            continue
        return env


def recv_data(client, count, timeout=10.0, channel=None, skip_upstream=True):
    """Receive `count` data envelopes: list of (env, raw).

    No $relay message is allowed in between, except `upstream` notices, which are set aside in
    client.notices (unless skip_upstream is False).
    """
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("received %d of %d data frames before the timeout" % (len(out), count))
        try:
            env, raw = recv_envelope(client, remaining)
        except socket.timeout:
            raise AssertionError("received %d of %d data frames before the timeout; last: %r"
                                 % (len(out), count, out[-1][1][:200] if out else None))
        if skip_upstream and is_upstream_notice(env):
            client.notices.append(env)
            continue
        if is_relay_msg(env):
            raise AssertionError("unexpected $relay message among data: %r" % raw[:300])
        if channel is not None and env.get("channel") != channel:
            raise AssertionError("frame from channel %r, expected %r: %r"
                                 % (env.get("channel"), channel, raw[:200]))
        out.append((env, raw))
    return out


def wait_notice(client, state, timeout=10.0):
    """Wait for a $relay upstream notice with data.state == state (checking client.notices first).
    Data frames read meanwhile are not allowed. Returns the notice."""
    for i, n in enumerate(client.notices):
        if n["data"].get("state") == state:
            del client.notices[:i + 1]
            return n
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no upstream %r notice within %.1fs" % (state, timeout))
        try:
            env, raw = recv_envelope(client, remaining)
        except socket.timeout:
            raise AssertionError("no upstream %r notice within %.1fs" % (state, timeout))
        if not is_upstream_notice(env):
            raise AssertionError("expected an upstream notice, got %r" % raw[:300])
        if env["data"].get("state") == state:
            return env
        client.notices.append(env)


def expect_subscribed(client, channel, timeout=5.0):
    env = recv_relay(client, timeout)
    data = env.get("data", {})
    if data.get("type") != "subscribed" or data.get("channel") != channel:
        raise AssertionError("expected $relay subscribed %r, got %r" % (channel, env))
    return env


class Collector(threading.Thread):
    """Reads data envelopes from one client in the background until `count` arrive or timeout."""

    def __init__(self, client, count, timeout=30.0):
        super().__init__(daemon=True)
        self.client = client
        self.count = count
        self.timeout = timeout
        self.frames = []       # raw bytes of each message, in order
        self.error = None

    def run(self):
        deadline = time.monotonic() + self.timeout
        try:
            while len(self.frames) < self.count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timeout")
                self.frames.append(self.client.recv_text(remaining))
        except BaseException as e:  # reported by the test
            self.error = e


# ---------------------------------------------------------------- test base

class IntegrationTest(unittest.TestCase):
    """Base class: a temp dir per test, and every sim/relay/client stopped at tearDown."""

    keep_dirs = bool(os.environ.get("UWRELAY_KEEP_TMP"))

    def setUp(self):
        for path, var in ((relay_bin(), "UWRELAY_BIN"), (sim_bin(), "UWSIM_BIN")):
            if not os.access(path, os.X_OK):
                self.fail("%s not executable (set %s)" % (path, var))
        self.tmp = tempfile.mkdtemp(prefix="uwrelay-it-")
        self._procs = []
        self._clients = []
        # a cleanup, not tearDown: it also runs when a subclass's setUp fails half-way
        self.addCleanup(self._stop_everything)

    def _stop_everything(self):
        failed = self._has_failed()
        for c in self._clients:
            try:
                c.abort()
            except Exception:
                pass
        problems = []
        for p in reversed(self._procs):
            proc = p.proc
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                problems.append("%s: stop failed: %r" % (proc.name, e))
                continue
            text = proc.stderr()
            m = SANITIZER_RE.search(text)
            if m:
                problems.append("%s: sanitizer/allocator report: %s"
                                % (proc.name, text[m.start():m.start() + 300]))
            if isinstance(p, Relay):
                was_running, rc, killed = proc.stop_info
                if was_running and killed:
                    problems.append("%s: did not exit within 5 s of SIGTERM" % proc.name)
                elif was_running and rc != 0:
                    problems.append("%s: exit code %s after SIGTERM" % (proc.name, rc))
                elif not was_running and rc not in (0, 1):
                    problems.append("%s: died on its own with code %s" % (proc.name, rc))
                elif not was_running and rc != 0 and not p.exit_seen:
                    # an error exit (bad config, lost listener...) the test never looked at:
                    # whatever it checked afterwards was not checked against a running relay
                    problems.append("%s: exited on its own with code %s, unnoticed by the test"
                                    % (proc.name, rc))
        if failed or problems:
            for p in self._procs:
                proc = p.proc
                sys.stderr.write("\n----- %s (%s) stderr, last 6000 chars -----\n%s\n"
                                 % (proc.name, " ".join(proc.argv), proc.stderr()[-6000:]))
            sys.stderr.write("----- files kept in %s -----\n" % self.tmp)
        elif not self.keep_dirs:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems and not failed:
            self.fail("process problems at teardown:\n  " + "\n  ".join(problems))

    def assert_valgrind_clean(self, log_path, rc, what="relay"):
        """valgrind (started with valgrind_argv) exited 0 and reported no error and no definite
        or indirect leak."""
        with open(log_path) as f:
            log = f.read()
        self.assertEqual(rc, 0, "%s: valgrind exit %s:\n%s" % (what, rc, log[-6000:]))
        self.assertIn("ERROR SUMMARY: 0 errors", log, log[-6000:])
        # the summary is printed (so the check ran) and nothing was lost
        self.assertRegex(log, r"(All heap blocks were freed|definitely lost: 0 bytes)", log[-3000:])
        self.assertNotRegex(log, r"definitely lost: [1-9]", log[-3000:])
        self.assertNotRegex(log, r"indirectly lost: [1-9]", log[-3000:])

    def _has_failed(self):
        """True if this test (or one of its subtests) has failed or errored so far."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        for test, _ in list(getattr(result, "errors", [])) + list(getattr(result, "failures", [])):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    # factories that register for cleanup
    def start_sim(self, **kw):
        s = Sim(self.tmp, wait=False, **kw)
        self._procs.append(s)
        s.wait_ready()
        return s

    def start_relay(self, config, wait_healthy=True, start_timeout=15, **kw):
        r = Relay(self.tmp, config, wait_healthy=False, **kw)
        self._procs.append(r)
        if wait_healthy:
            r.wait_healthy(start_timeout)
        return r

    def client(self, relay, path, **kw):
        c = relay.ws(path, **kw)
        self._clients.append(c)
        return c

    def sim_and_relay(self, sim_kw=None, token="test-token", wait_connected=True, **cfg_over):
        """Start a sim and a relay pointed at it; by default wait for status connected."""
        sim = self.start_sim(**(sim_kw or {}))
        cfg = relay_config(free_port(), sim.url(), **cfg_over)
        relay = self.start_relay(cfg, token=token)
        if wait_connected:
            relay.wait_connected(10)
        return sim, relay


def valgrind_argv(log_path):
    """The valgrind command line to put before the relay's (see assert_valgrind_clean)."""
    return ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--log-file=" + log_path]


def main():
    unittest.main(verbosity=2)


# ---------------------------------------------------------------- sockets beyond wsclient.connect
# (added for test_access.py, test_resilience.py and tests/soak/soak.py; wsclient.py is unchanged)

def open_socket(host, port, timeout=5.0, source_addr=None, rcvbuf=None, ssl_context=None,
                server_hostname=None):
    """A connected TCP socket to host:port.

    source_addr: bind to this local address first (e.g. "127.0.0.2": any 127.x works on Linux);
    rcvbuf: SO_RCVBUF set before connect() (so the advertised window stays that small);
    ssl_context: wrap the socket in TLS (server_hostname for SNI and the name check)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source_addr is not None:
            sock.bind((source_addr, 0))
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        return sock
    except BaseException:
        sock.close()
        raise


def ws_handshake(sock, host, port, path, headers=None, timeout=5.0):
    """The client side of the opening handshake on an already connected (maybe TLS) socket.

    Returns a wsclient.WSClient, or raises wsclient.HandshakeRefused (status, headers, body)
    exactly as wsclient.connect does; the socket is closed on any failure."""
    import base64
    import hashlib
    deadline = time.monotonic() + timeout
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        req = ["GET %s HTTP/1.1" % path, "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
        if not any(k.lower() == "host" for k in (headers or {})):  # a test may pick its own
            req.insert(1, "Host: %s:%d" % (host, port))
        for k, v in (headers or {}).items():
            req.append("%s: %s" % (k, v))
        sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode("iso-8859-1"))
        head, rest = wsclient._read_head(sock, deadline)
        status, reason, hdrs = wsclient._parse_head(head)
        if status != 101:
            body = wsclient._read_body(sock, hdrs, rest, deadline)
            raise wsclient.HandshakeRefused(status, reason, hdrs, body)
        expect = base64.b64encode(hashlib.sha1(key.encode() + wsclient._GUID).digest()).decode()
        if hdrs.get("sec-websocket-accept") != expect:
            raise wsclient.WSError("bad Sec-WebSocket-Accept %r" % hdrs.get("sec-websocket-accept"))
        return wsclient.WSClient(sock, rest, status, hdrs)
    except BaseException:
        try:
            sock.close()
        except OSError:
            pass
        raise


def ws_connect_ex(host, port, path, headers=None, timeout=5.0, source_addr=None, rcvbuf=None,
                  ssl_context=None, server_hostname=None):
    """wsclient.connect with a chosen source address, a small SO_RCVBUF and/or TLS (wss://)."""
    sock = open_socket(host, port, timeout, source_addr, rcvbuf, ssl_context, server_hostname)
    return ws_handshake(sock, host, port, path, headers, timeout)


def raw_exchange(host, port, data, timeout=5.0, source_addr=None):
    """Send raw bytes, read until the peer closes (or the timeout).

    Returns (bytes received, closed_by_peer: bool)."""
    sock = open_socket(host, port, timeout, source_addr)
    deadline = time.monotonic() + timeout
    got = b""
    closed = False
    try:
        sock.sendall(data)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        sock.close()
    return got, closed


def proc_rss_kb(pid):
    """VmRSS of a process, in kB (from /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def read_until_closed(client, timeout=10.0):
    """Read and discard messages until the peer's close frame or EOF.

    Returns (close code or None on EOF, number of data messages read before it)."""
    n = 0
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no close within %.1fs (read %d messages)" % (timeout, n))
        try:
            client.recv_message(remaining)
            n += 1
        except wsclient.WSClosed as e:
            return (None if e.eof else e.code), n
        except (ConnectionResetError, BrokenPipeError):
            return None, n


def listening_addresses(port):
    """Local addresses with a TCP socket in LISTEN state on `port`, from /proc/net/tcp and tcp6:
    a list of strings such as "127.0.0.1", "0.0.0.0", "::" or "::ffff:127.0.0.1"."""
    import ipaddress
    out = []
    for fname, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(fname) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":      # 0A = LISTEN
                continue
            addr_hex, port_hex = parts[1].split(":")
            if int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr_hex)
            if v6:   # four little-endian 32-bit words
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                out.append(str(ipaddress.IPv6Address(raw)))
            else:
                out.append(str(ipaddress.IPv4Address(raw[::-1])))
    return out
