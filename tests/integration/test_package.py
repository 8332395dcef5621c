#!/usr/bin/env python3
"""The Debian package under a real systemd: a Debian 12 container (systemd-nspawn -b on a cached
debootstrap tree) installs the .deb with apt, runs the relay as its service against the simulator
on the host's loopback, and purges it; then the README's cmake install path in the same container.

Needs root, debootstrap, systemd-nspawn, dpkg-buildpackage and lintian (scripts/deps.sh --test).
The tree is made once under .cache/ (about 40 s; minbase, systemd and the package's run-time
libraries, so that apt installs the .deb without a network) and booted with --volatile=overlay:
every run starts from the same tree and leaves nothing in it. The .deb (in .cache/deb/) is rebuilt
only when a file it is made of (anything outside tests/) changed. The container shares the host's
network: the relay inside reaches the simulator on 127.0.0.1 and the test reaches the relay the
same way.
"""

import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wsclient  # noqa: E402
from harness import HOST, free_port, recv_data, expect_subscribed, wait_until  # noqa: E402

REPO = harness.REPO
BUILD = os.path.abspath(os.environ.get("UWRELAY_BUILD_DIR", os.path.dirname(harness.relay_bin())))
CACHE = os.path.join(REPO, ".cache")
TREE = os.path.join(CACHE, "debian12-rootfs")
DEB_DIR = os.path.join(CACHE, "deb")
MIRROR = os.environ.get("UWRELAY_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# what the tree needs besides minbase: an init, a bus for systemctl, cmake for the README's path
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "cmake"]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# left in the tree by apt, dpkg and the journal; anything else new after a purge is a leftover
VOLATILE = ("/var/log/", "/var/cache/", "/var/lib/apt/", "/var/lib/dpkg/", "/var/lib/systemd/timers/",
            "/var/lib/systemd/random-seed", "/var/lib/systemd/catalog/", "/etc/ld.so.cache")


def log(msg):
    sys.stderr.write("[package %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(argv, timeout=120, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s -> rc %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout[-3000:],
                                                    r.stderr[-3000:]))
    return r


def packaged_digest():
    """A digest of the names and contents of the files that can change the package: the tracked
    and untracked-but-not-ignored files outside tests/, fuzz/ and bench/."""
    files = run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                 "--", ".", ":!tests", ":!fuzz", ":!bench"]).stdout.split("\0")
    h = hashlib.sha256()
    for f in sorted(set(files) - {""}):
        path = os.path.join(REPO, f)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                h.update(f.encode() + b"\0" + hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def build_deb():
    """The .deb in .cache/deb/, rebuilt when the files it is made of changed; returns its path."""
    version = run(["dpkg-parsechangelog", "-l", os.path.join(REPO, "debian/changelog"),
                   "-S", "Version"]).stdout.strip()
    arch = run(["dpkg-architecture", "-qDEB_HOST_ARCH"]).stdout.strip()
    deb = os.path.join(DEB_DIR, "uwrelay_%s_%s.deb" % (version, arch))
    stamp = os.path.join(DEB_DIR, "source.sha256")
    digest = packaged_digest()
    if os.path.exists(deb) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read().strip() == digest:
                log("reusing %s" % deb)
                return deb
    t = time.monotonic()
    env = dict(os.environ, DEB_DIR=DEB_DIR)
    run([os.path.join(REPO, "scripts/package.sh")], timeout=600, env=env)
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    log("built %s in %.1f s" % (deb, time.monotonic() - t))
    return deb


def deb_depends(deb):
    """Package names in the .deb's Depends (alternatives: the first)."""
    field = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    return sorted({alt.split("|")[0].split("(")[0].strip() for alt in field.split(",") if alt.strip()})


def ensure_tree(runtime):
    """The cached Debian 12 minbase tree with BASE_PACKAGES and `runtime`; made when missing or
    when it lacks one of them (a new library dependency)."""
    marker = os.path.join(TREE, ".uwrelay-packages")
    want = sorted(set(BASE_PACKAGES) | set(runtime))
    if os.path.exists(marker):
        with open(marker) as f:
            have = set(f.read().split())
        if set(want) <= have:
            return
        log("tree lacks %s: remaking it" % sorted(set(want) - have))
    tmp = TREE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(TREE, ignore_errors=True)
    t = time.monotonic()
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(want), "bookworm", tmp, MIRROR],
        timeout=900)
    with open(os.path.join(tmp, ".uwrelay-packages"), "w") as f:
        f.write("\n".join(want) + "\n")
    os.rename(tmp, TREE)
    log("made %s in %.1f s" % (TREE, time.monotonic() - t))


def sanitized_build():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return re.search(r"^UWRELAY_SANITIZE:BOOL=ON$", f.read(), re.M) is not None
    except OSError:
        return True


def ns_init(root):
    """The host pid of the first process under `root` that is PID 1 in its own pid namespace
    (the container's systemd under systemd-nspawn), or None."""
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
        m = re.search(r"^NSpid:\s+(.*)$", status, re.M)
        if m and len(m.group(1).split()) > 1 and m.group(1).split()[-1] == "1":
            return pid
    return None


class Container:
    """A booted container; every command runs in it through nsenter into its PID 1."""

    def __init__(self, binds):
        self.name = "uwrelay-test-%d" % os.getpid()
        argv = ["systemd-nspawn", "-q", "-D", TREE, "--volatile=overlay", "-M", self.name,
                # no systemd on the host to register with or to make a scope
                "--register=no", "--keep-unit", "--console=pipe", "-b"]
        for src, dst, ro in binds:
            argv.append("%s=%s:%s" % ("--bind-ro" if ro else "--bind", src, dst))
        self.console_path = os.path.join(CACHE, self.name + ".console")
        self.console = open(self.console_path, "w+")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.console,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        self.pid1 = None
        try:
            self.pid1 = wait_until(self._find_pid1, 20, 0.05, "the container's systemd")
            wait_until(lambda: self.run(["test", "-S", "/run/systemd/private"], check=False).returncode == 0,
                       20, 0.05, "the container's systemd listening")
            r = self.sh("systemctl is-system-running --wait", timeout=60, check=False)
            self.boot_state = r.stdout.strip()
            if self.boot_state not in ("running", "degraded"):
                raise AssertionError("container boot: %r %s" % (self.boot_state, r.stderr))
        except BaseException:
            self.stop()
            raise

    def _find_pid1(self):
        if self.p.poll() is not None:
            self.console.seek(0)
            raise AssertionError("systemd-nspawn exited %s:\n%s" % (self.p.returncode,
                                                                   self.console.read()[-3000:]))
        return ns_init(self.p.pid)

    def run(self, argv, input=None, timeout=60, check=True):
        full = ["nsenter", "-t", str(self.pid1), "-a", "--", "env", "-i", "PATH=" + PATH,
                "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"] + argv
        r = subprocess.run(full, input=input, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("in container: %s -> rc %d\n%s%s" % (" ".join(argv), r.returncode,
                                                                     r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def sh(self, script, **kw):
        return self.run(["sh", "-c", script], **kw)

    def show(self, unit, prop):
        return self.run(["systemctl", "show", "-P", prop, unit]).stdout.strip()

    def write(self, path, text, mode="644"):
        self.sh("umask 077; cat > %s.new && chmod %s %s.new && mv %s.new %s" % (path, mode, path, path, path),
                input=text)

    def files(self):
        """Every path on the container's root file system (not /proc, /sys, /dev, /run, /tmp)."""
        out = self.sh("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run "
                      "-o -path /tmp -o -path /var/tmp \\) -prune -o -print", timeout=60).stdout
        return set(out.split("\n")) - {""}

    def stop(self):
        """Power the container off (SIGRTMIN+4 to its systemd); kill it if that takes over 10 s."""
        if self.p.poll() is None:
            try:
                if self.pid1:
                    os.kill(self.pid1, signal.SIGRTMIN + 4)
                self.p.wait(10)
            except (subprocess.TimeoutExpired, OSError):
                os.killpg(self.p.pid, signal.SIGKILL)
                if self.pid1:
                    try:
                        os.kill(self.pid1, signal.SIGKILL)  # takes the whole pid namespace with it
                    except OSError:
                        pass
                self.p.wait(10)
        self.console.close()
        os.unlink(self.console_path)


def kill_stale_containers():
    """Containers of earlier runs that died before their cleanup (a test killed by a timeout)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv[0].endswith(b"systemd-nspawn") or b"-M" not in argv:
            continue
        m = re.match(rb"uwrelay-test-(\d+)$", argv[argv.index(b"-M") + 1])
        if m and not os.path.exists("/proc/%s" % m.group(1).decode()):
            log("killing the container of an earlier run (pid %s)" % entry)
            init = ns_init(int(entry))
            for pid in ([init] if init else []) + [int(entry)]:
                try:
                    os.kill(pid, signal.SIGKILL)  # the init takes its whole pid namespace along
                except OSError:
                    pass


def sim_config(port, sim, ca_file):
    """The relay's config for the simulator over wss:// (plain ws:// is warned about, rightly)."""
    cfg = harness.relay_config(port, sim.wss_url(HOST), upstream={"ca_file": ca_file})
    del cfg["log"]  # the packaged default (info)
    return harness.to_yaml(cfg) + "\n"


@unittest.skipUnless(os.geteuid() == 0, "needs root (debootstrap, systemd-nspawn); CI runs as root")
class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        kill_stale_containers()
        for tool in ("debootstrap", "systemd-nspawn", "dpkg-buildpackage", "lintian", "nsenter"):
            if not shutil.which(tool):
                raise AssertionError("%s missing: run scripts/deps.sh --test" % tool)
        os.makedirs(CACHE, exist_ok=True)
        cls.deb = build_deb()
        ensure_tree(deb_depends(cls.deb))

    def setUp(self):
        self.workdir = harness.tempfile.mkdtemp(prefix="uwrelay-package-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.token = "pkgtest-" + secrets.token_hex(16)
        cert, key = harness.make_cert(self.workdir)
        with open(cert) as f:
            self.ca = f.read()
        self.sim = harness.Sim(self.workdir, token=self.token, tls=True, cert=cert, key=key)
        self.addCleanup(self.sim.stop)
        self.clients = []
        self.addCleanup(lambda: [c.abort() for c in self.clients])

    def boot(self):
        binds = [(os.path.dirname(self.deb), "/mnt/deb", True), (REPO, REPO, True)]
        if not sanitized_build():
            binds.append((BUILD, BUILD, False))  # cmake --install writes install_manifest.txt
        t = time.monotonic()
        c = Container(binds)
        self.addCleanup(c.stop)
        log("container booted (%s) in %.1f s" % (c.boot_state, time.monotonic() - t))
        return c

    def client(self, port):
        ws = wsclient.connect(HOST, port, "/api/stream/ws/flow", timeout=5)
        self.clients.append(ws)
        expect_subscribed(ws, "flow-alerts")
        return ws

    def frame_reaches(self, ws):
        self.sim.publish("flow-alerts")
        recv_data(ws, 1, timeout=10, channel="flow-alerts")

    def relay_status(self, port):
        return wsclient.http_get_json(HOST, port, "/api/stream/status")

    def metric(self, port, name):
        _, _, body = wsclient.http_get(HOST, port, "/metrics")
        m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
        self.assertTrue(m, name)
        return float(m.group(1))

    def test_lintian_is_clean(self):
        r = run(["lintian", "--fail-on", "error,warning", self.deb], timeout=120, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"(?m)^[EW]: ", r.stdout)

    def test_package_lifecycle(self):
        c = self.boot()
        before = c.files()

        # -- install: the unit is there, neither enabled nor started without a token
        t = time.monotonic()
        c.sh("cd /mnt/deb && apt-get install -y ./%s" % os.path.basename(self.deb), timeout=120)
        log("apt-get install in %.1f s" % (time.monotonic() - t))
        self.assertIn("/etc/uwrelay/uwrelay.yaml",
                      c.run(["dpkg-query", "-W", "-f=${Conffiles}", "uwrelay"]).stdout)
        self.assertEqual(c.run(["systemctl", "is-enabled", "uwrelay"], check=False).stdout.strip(),
                         "disabled")
        self.assertEqual(c.run(["systemctl", "is-active", "uwrelay"], check=False).stdout.strip(),
                         "inactive")
        c.run(["test", "-s", "/usr/share/man/man8/uwrelay.8.gz"])  # minbase has no man-db
        self.assertEqual(c.run(["stat", "-c", "%a", "/etc/uwrelay"]).stdout.strip(), "755")

        # -- the documented steps: the config pointed at the simulator, the token in its place
        port = free_port()
        c.write("/etc/uwrelay/test-ca.pem", self.ca)
        c.write("/etc/uwrelay/uwrelay.yaml", sim_config(port, self.sim, "/etc/uwrelay/test-ca.pem"))
        c.sh("umask 077; cat > /etc/uwrelay/uw-token", input=self.token + "\n")
        # the watchdog at 2 s, so that "fed" is seen in seconds (30 s in the unit)
        c.sh("mkdir -p /etc/systemd/system/uwrelay.service.d && printf '[Service]\\nWatchdogSec=2\\n'"
             " > /etc/systemd/system/uwrelay.service.d/test.conf && systemctl daemon-reload")
        t = time.monotonic()
        c.run(["systemctl", "enable", "--now", "uwrelay"])
        started = time.monotonic() - t
        log("systemctl enable --now returned in %.2f s" % started)
        self.assertEqual(c.run(["systemctl", "is-enabled", "uwrelay"]).stdout.strip(), "enabled")
        self.assertEqual(c.show("uwrelay", "ActiveState"), "active")
        # Type=notify: `start` returns once READY=1 came; SubState running says so too
        self.assertEqual(c.show("uwrelay", "SubState"), "running")
        wait_until(lambda: self.relay_status(port)["status"] == "connected", 10, 0.1, "UW connected")
        status = wait_until(lambda: (lambda s: s if "upstream connected" in s else None)(
            c.show("uwrelay", "StatusText")), 10, 0.2, "STATUS= says connected")
        log("STATUS: %s" % status)
        ws = self.client(port)
        self.frame_reaches(ws)

        # -- a normal start logs nothing at warning or above
        warn = c.run(["journalctl", "-u", "uwrelay", "-p", "warning", "-o", "cat", "--no-pager"]).stdout
        self.assertEqual(warn.strip(), "", "warnings at a normal start:\n" + warn)

        # -- the watchdog is fed: its timestamp moves three times (over two 2 s periods) and the
        # process is the same
        pid = c.show("uwrelay", "MainPID")
        seen = [c.show("uwrelay", "WatchdogTimestampMonotonic")]

        def fed_again():
            w = c.show("uwrelay", "WatchdogTimestampMonotonic")
            if w != seen[-1]:
                seen.append(w)
            return len(seen) > 3
        wait_until(fed_again, 8, 0.2, "WATCHDOG=1 three times")
        self.assertEqual(c.show("uwrelay", "MainPID"), pid)
        self.assertEqual(c.show("uwrelay", "NRestarts"), "0")

        # -- reload keeps the process and the clients, with no /bin/kill on the system
        c.sh("rm -f /usr/bin/kill /bin/kill")
        c.run(["systemctl", "reload", "uwrelay"])
        wait_until(lambda: self.metric(port, 'uwrelay_reloads_total{result="ok"}') == 1, 5, 0.1, "reload ok")
        self.assertEqual(c.show("uwrelay", "MainPID"), pid)
        self.frame_reaches(ws)

        # -- a broken config is refused on reload: same process, same clients, still serving
        c.write("/etc/uwrelay/uwrelay.yaml", "listen: [\n")
        c.run(["systemctl", "reload", "uwrelay"])
        wait_until(lambda: self.metric(port, 'uwrelay_reloads_total{result="failed"}') == 1, 5, 0.1,
                   "reload refused")
        self.assertEqual(c.show("uwrelay", "MainPID"), pid)
        self.assertEqual(c.show("uwrelay", "ActiveState"), "active")
        self.frame_reaches(ws)
        c.write("/etc/uwrelay/uwrelay.yaml", sim_config(port, self.sim, "/etc/uwrelay/test-ca.pem"))

        # -- SIGSEGV: systemd restarts it (Restart=on-failure, RestartSec=2)
        t = time.monotonic()
        c.run(["systemctl", "kill", "--kill-whom=main", "-s", "SEGV", "uwrelay"])
        wait_until(lambda: c.show("uwrelay", "NRestarts") == "1" and
                   c.show("uwrelay", "SubState") == "running", 15, 0.1, "restart after SIGSEGV")
        log("restarted after SIGSEGV in %.1f s" % (time.monotonic() - t))
        self.assertNotEqual(c.show("uwrelay", "MainPID"), pid)
        wait_until(lambda: self.relay_status(port)["status"] == "connected", 10, 0.1, "UW connected")

        # -- an upgrade (here a reinstall) keeps the edited conffile and restarts a running relay
        pid = c.show("uwrelay", "MainPID")
        c.sh("cd /mnt/deb && apt-get install -y --reinstall ./%s" % os.path.basename(self.deb),
             timeout=120)
        wait_until(lambda: c.show("uwrelay", "MainPID") not in (pid, "0"), 10, 0.1, "restarted")
        self.assertIn("test-ca.pem", c.run(["cat", "/etc/uwrelay/uwrelay.yaml"]).stdout)
        wait_until(lambda: self.relay_status(port)["status"] == "connected", 10, 0.1, "UW connected")

        # -- stop: exit 0, browsers told 1001 (going away)
        ws = self.client(port)
        t = time.monotonic()
        c.run(["systemctl", "stop", "uwrelay"])
        log("systemctl stop in %.2f s" % (time.monotonic() - t))
        with self.assertRaises(wsclient.WSClosed) as cm:
            while True:
                ws.recv(5)
        self.assertEqual(cm.exception.code, 1001)
        self.assertEqual(c.show("uwrelay", "ExecMainStatus"), "0")
        self.assertEqual(c.show("uwrelay", "Result"), "success")

        # -- the token is nowhere: not in any journal field, not in systemctl show
        journal = c.run(["journalctl", "-b", "-o", "verbose", "--no-pager"], timeout=60).stdout
        self.assertIn("uwrelay", journal)
        self.assertNotIn(self.token, journal)
        self.assertNotIn(self.token[8:20], journal)
        self.assertNotIn(self.token, c.run(["systemctl", "show", "uwrelay"]).stdout)

        # -- purge of a running relay stops it and leaves nothing behind (the test's own drop-in
        # and CA go first)
        c.sh("rm -r /etc/systemd/system/uwrelay.service.d /etc/uwrelay/test-ca.pem && systemctl daemon-reload")
        c.write("/etc/uwrelay/uwrelay.yaml", sim_config(port, self.sim, ""))
        c.run(["systemctl", "start", "uwrelay"])
        wait_until(lambda: self.relay_status(port), 5, 0.1, "relay up again")
        c.run(["apt-get", "purge", "-y", "uwrelay"], timeout=120)
        self.assertEqual(c.run(["systemctl", "is-active", "uwrelay"], check=False).stdout.strip(), "inactive")
        with self.assertRaises(OSError):
            self.relay_status(port)
        self.assertNotEqual(c.run(["dpkg-query", "-W", "uwrelay"], check=False).returncode, 0)
        left = sorted(p for p in c.files() - before if not p.startswith(VOLATILE))
        self.assertEqual(left, [], "left after purge")
        self.assertEqual(c.run(["systemctl", "is-enabled", "uwrelay"], check=False).stdout.strip(), "")

    def test_readme_cmake_install(self):
        if sanitized_build():
            self.skipTest("the cmake install path is checked with the normal build, not %s" % BUILD)
        c = self.boot()
        # README, "Install as a service", by hand
        c.run(["cmake", "--install", BUILD, "--prefix", "/usr/local"], timeout=120)
        port = free_port()
        c.write("/usr/local/etc/uwrelay/test-ca.pem", self.ca)
        c.write("/usr/local/etc/uwrelay/uwrelay.yaml",
                sim_config(port, self.sim, "/usr/local/etc/uwrelay/test-ca.pem"))
        c.sh("umask 077; cat > /usr/local/etc/uwrelay/uw-token", input=self.token + "\n")
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "enable", "--now", "uwrelay"])
        self.assertEqual(c.show("uwrelay", "ActiveState"), "active")
        self.assertEqual(c.show("uwrelay", "FragmentPath"), "/usr/local/lib/systemd/system/uwrelay.service")
        wait_until(lambda: self.relay_status(port)["status"] == "connected", 10, 0.1, "UW connected")
        ws = self.client(port)
        self.frame_reaches(ws)
        c.run(["systemctl", "reload", "uwrelay"])
        wait_until(lambda: self.metric(port, 'uwrelay_reloads_total{result="ok"}') == 1, 5, 0.1, "reload ok")
        warn = c.run(["journalctl", "-u", "uwrelay", "-p", "warning", "-o", "cat", "--no-pager"]).stdout
        self.assertEqual(warn.strip(), "", "warnings:\n" + warn)
        c.run(["systemctl", "disable", "--now", "uwrelay"])
        self.assertEqual(c.show("uwrelay", "Result"), "success")


if __name__ == "__main__":
    unittest.main(verbosity=2)
