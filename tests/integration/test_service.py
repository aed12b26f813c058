#!/usr/bin/python3
"""nemo-ha as a systemd service (issue 15), with the real tools and no systemd of our own:

- Notify: the real daemon with NOTIFY_SOCKET naming an AF_UNIX datagram socket this test bound, and
  WATCHDOG_USEC set, as systemd would start it: STATUS= while starting, READY=1 once the ports forward,
  WATCHDOG=1 every quarter of the interval, STOPPING=1 on SIGTERM, every message from the main pid
  (NotifyAccess=main). One worker thread stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT on its
  tid: the rest of the process runs on) withholds the watchdog, STATUS= names that worker, and the
  feeds come back once it runs again.
- Package: scripts/build_deb.sh builds the .deb; dpkg installs it into a scratch root (--root, the
  maintainer scripts chrootless with DPKG_ROOT) and we check what lands where, the Depends against the
  libraries the binaries really link, the conffiles (an operator's change survives a reinstall), the
  installed binaries, and a purge; `systemd-analyze verify` and `security` judge the installed unit;
  the man pages name every option and command and format without warnings.

Runs under /usr/bin/python3, as root (EAL, ptrace, dpkg --root). No network namespaces: net_null ports.

    /usr/bin/python3 tests/integration/test_service.py [-v] [Class.test_name]
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("NEMO_BUILD_DIR", os.path.join(ROOT, "build"))
NEMO_HA = os.path.join(BUILD, "dataplane", "daemon", "nemo-ha")
NEMO_HACTL = os.path.join(BUILD, "control", "nemo-hactl")
PACKAGE = os.path.join(ROOT, "scripts", "package")

WATCHDOG_USEC = 2_000_000          # stall after max(1 s, half of it) = 1 s; fed every 0.5 s
STALL_S = 1.0
FEED_EVERY_S = 0.5

SO_PASSCRED = 16
SCM_CREDENTIALS = 2
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: wait for a thread that is not the leader

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid):
    if libc.ptrace(req, tid, None, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req:#x}, {tid}): {os.strerror(e)}")


def read(path):
    with open(path) as f:
        return f.read()


def config_text(prefix):
    cpus = sorted(os.sched_getaffinity(0))
    # Two workers (lcores 1 and 2) even on a machine of two CPUs: both on the last one.
    lcores = f"0@{cpus[0]},1@{cpus[-1]},2@{cpus[-1]}"
    return f"""[ha]
ipv6 = 2001:db8:1::1
ipv4 = 192.0.2.1
home_prefix = 2001:db8:1::/64
[state]
backend = none
[eal]
args = --no-huge -m 256 --no-pci --no-shconf --lcores={lcores} --file-prefix={prefix} --log-level=lib.eal:error --vdev=net_null0,no-rx=1 --vdev=net_null1,no-rx=1
[access]
port = net_null0
[home]
port = net_null1
"""


class NotifySocket:
    """The service manager's end: an AF_UNIX datagram socket, with the sender's credentials."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
        self.messages = []  # (time, sender pid, {field: value})

    def close(self):
        self.sock.close()

    def pump(self, until):
        """Receives until the time `until` (time.monotonic())."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                return
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            self.messages.append((time.monotonic(), pid, fields))

    def wait_for(self, pred, timeout):
        """The first message after those seen so far for which pred(fields) holds, or None."""
        start = len(self.messages)
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages[start:]:
                if pred(m[2]):
                    return m
            start = len(self.messages)
            if time.monotonic() >= deadline:
                return None
            self.pump(min(deadline, time.monotonic() + 0.1))

    def watchdogs(self, after=0.0):
        return [t for t, _, f in self.messages if f.get("WATCHDOG") == "1" and t > after]


class Notify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sv-notify-")
        self.config = os.path.join(self.dir, "nemo-ha.ini")
        with open(self.config, "w") as f:
            f.write(config_text(f"sv-notify-{os.getpid()}"))
        self.cli = os.path.join(self.dir, "cli.sock")
        self.notify = NotifySocket(os.path.join(self.dir, "notify.sock"))
        self.log = os.path.join(self.dir, "nemo-ha.log")
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([NEMO_HA, "--config", self.config, f"--cli.socket={self.cli}"],
                                         stdout=out, stderr=subprocess.STDOUT, env=env)
        self.traced = []

    def tearDown(self):
        for tid in self.traced:
            try:
                ptrace(PTRACE_DETACH, tid)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ready(self):
        m = self.notify.wait_for(lambda f: f.get("READY") == "1", 30)
        self.assertIsNotNone(m, f"no READY=1 (exit {self.proc.poll()}):\n" + read(self.log))
        return m

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        m = self.notify.wait_for(lambda f: f.get("STOPPING") == "1", 20)
        self.assertIsNotNone(m, "no STOPPING=1 after SIGTERM:\n" + read(self.log))
        self.assertEqual(self.proc.wait(timeout=20), 0, read(self.log))
        return m

    def test_ready_after_forwarding_watchdog_fed_stopping_on_sigterm(self):
        t_ready, pid, fields = self.ready()
        # READY only once the ports forward: the start-up line is out (it is flushed before READY).
        self.assertIn("forwarding", read(self.log))
        self.assertRegex(fields.get("STATUS", ""), r"^forwarding: 2 worker\(s\), access net_null0, home net_null1")
        first = self.notify.messages[0][2]
        self.assertTrue(first.get("STATUS", "").startswith("starting"), self.notify.messages[:2])
        # The CLI answers while it is ready (and its help is what the man page must cover).
        r = subprocess.run([NEMO_HACTL, "-s", self.cli, "help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        check_hactl_man_page(self, r.stdout)
        self.notify.pump(time.monotonic() + 3.0)
        feeds = self.notify.watchdogs(after=t_ready - 0.01)
        self.assertGreaterEqual(len(feeds), 5, f"WATCHDOG=1 at {feeds} (interval {WATCHDOG_USEC} us)")
        gaps = [b - a for a, b in zip(feeds, feeds[1:])]
        self.assertLess(max(gaps), WATCHDOG_USEC / 1e6 / 2, f"feeds {gaps} apart: at least twice an interval")
        self.assertGreater(min(gaps), FEED_EVERY_S / 2, f"feeds {gaps} apart: not every control-loop turn")
        t_stop, _, stopping = self.stop()
        self.assertEqual(stopping.get("STATUS"), "stopping")
        self.assertEqual(self.notify.watchdogs(after=t_stop), [], "fed after STOPPING=1")
        # NotifyAccess=main: every message from the main process.
        self.assertEqual({p for _, p, _ in self.notify.messages}, {self.proc.pid})

    def test_a_stalled_worker_withholds_the_watchdog_until_it_runs_again(self):
        self.ready()
        workers = {}
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            m = re.fullmatch(r"(?:rte|lcore|dpdk)-worker-?(\d+)", read(f"/proc/{self.proc.pid}/task/{tid}/comm").strip())
            if m:
                workers[int(m.group(1))] = int(tid)
        self.assertEqual(sorted(workers), [1, 2], f"worker threads: {workers}")
        lcore, index = 2, 1  # the second worker: lcore 2
        tid = workers[lcore]
        self.notify.pump(time.monotonic() + 1.0)
        self.assertTrue(self.notify.watchdogs(after=time.monotonic() - 1.0), "not fed before the stall")

        ptrace(PTRACE_SEIZE, tid)
        self.traced.append(tid)
        ptrace(PTRACE_INTERRUPT, tid)
        _, status = os.waitpid(tid, WALL)
        t_stalled = time.monotonic()
        self.assertTrue(os.WIFSTOPPED(status) and status >> 16 == PTRACE_EVENT_STOP, hex(status))
        self.assertIn("tracing stop", read(f"/proc/{self.proc.pid}/task/{tid}/status"))
        # Only that thread: the main one runs on.
        self.assertNotIn("stop", re.search(r"State:.*", read(f"/proc/{self.proc.pid}/status")).group(0))

        m = self.notify.wait_for(lambda f: "WITHHELD" in f.get("STATUS", ""), 5)
        self.assertIsNotNone(m, "no STATUS= saying the watchdog is withheld:\n" + read(self.log))
        t_withheld, _, fields = m
        self.assertIn(f"worker {index} (lcore {lcore})", fields["STATUS"])
        self.assertNotIn("lcore 1", fields["STATUS"])
        self.assertGreaterEqual(t_withheld - t_stalled, STALL_S - 0.2, "withheld before the threshold")
        self.notify.pump(time.monotonic() + 3.0)
        late = self.notify.watchdogs(after=t_stalled + STALL_S + FEED_EVERY_S)
        self.assertEqual(late, [], f"fed {[round(t - t_stalled, 2) for t in late]} s after the worker stopped")
        self.assertIsNone(self.proc.poll(), "the daemon itself must keep running")
        self.assertIn(f"WATCHDOG WITHHELD: worker {index} (lcore {lcore})", read(self.log), "said on stderr too")

        ptrace(PTRACE_DETACH, tid)
        self.traced.remove(tid)
        t_resumed = time.monotonic()
        m = self.notify.wait_for(lambda f: f.get("WATCHDOG") == "1", 2 * FEED_EVERY_S + 0.5)
        self.assertIsNotNone(m, "the watchdog is not fed again after the worker resumed:\n" + read(self.log))
        self.assertLess(m[0] - t_resumed, 2 * FEED_EVERY_S)
        back = [f for t, _, f in self.notify.messages if t >= t_resumed and f.get("STATUS", "").startswith("forwarding")]
        self.assertTrue(back, "STATUS= does not say it forwards again")
        self.notify.pump(time.monotonic() + 1.5)
        self.assertGreaterEqual(len(self.notify.watchdogs(after=t_resumed)), 3)
        self.stop()


def check_hactl_man_page(test, help_text):
    """Every command of `nemo-hactl help` is in nemo-hactl.8 as the help writes it."""
    page = roff_text(os.path.join(PACKAGE, "nemo-hactl.8"))
    commands = [" ".join(ln.split()) for ln in help_text.splitlines() if ln.startswith("  ")]
    test.assertGreater(len(commands), 10, help_text)
    for cmd in commands:
        test.assertIn(cmd, page, f"nemo-hactl.8 lacks '{cmd}'")


def roff_text(path):
    """The page as man renders it, without hyphenation or justification."""
    r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=300n", "-rHY=0", "-dAD=l", "-ww", path],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    text = r.stdout.replace("\u2010", "-").replace("\u2212", "-")
    return re.sub(r"[ \t]+", " ", text)


def parse_unit(text):
    """(section, key) -> [values] of a unit file (keys repeat)."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, v = line.split("=", 1)
        out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def parse_ini(text):
    out, section = {}, None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, v = line.split("=", 1)
        out[f"{section}.{k.strip()}"] = v.strip()
    return out


def dpkg_root(root, *args):
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends", *args],
                          capture_output=True, text=True, timeout=120)


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sv-deb-")
        # The package's build directory (build-deb/, beside the test build trees): rebuilt incrementally, run to
        # run, and shared by the plain and the ASan suites (the package is never a sanitized build).
        r = subprocess.run([os.path.join(ROOT, "scripts", "build_deb.sh"), "--build-dir", os.path.join(ROOT, "build-deb"),
                            "--out", cls.dir], capture_output=True, text=True, timeout=1500)
        if r.returncode != 0:
            raise AssertionError("build_deb.sh failed:\n" + r.stdout + r.stderr)
        cls.deb = r.stdout.strip().splitlines()[-1]
        cls.root = os.path.join(cls.dir, "root")
        admin = os.path.join(cls.root, "var", "lib", "dpkg")
        for d in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admin, d))
        for f in ("status", "available"):
            open(os.path.join(admin, f), "w").close()
        r = dpkg_root(cls.root, "-i", cls.deb)
        if r.returncode != 0:
            raise AssertionError("dpkg -i into the scratch root failed:\n" + r.stdout + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True, text=True, check=True).stdout.strip()

    def test_1_files_land_where_debian_puts_them(self):
        self.assertTrue(os.path.basename(self.deb).startswith("nemo-ha_") and self.deb.endswith(".deb"), self.deb)
        self.assertEqual(self.field("Package"), "nemo-ha")
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
        self.assertEqual(self.field("Architecture"), arch)
        expected = {
            "/usr/sbin/nemo-ha": 0o755, "/usr/bin/nemo-hactl": 0o755, "/usr/bin/nemo-mr": 0o755,
            "/lib/systemd/system/nemo-ha.service": 0o644,
            "/etc/nemo-ha/nemo-ha.ini": 0o600, "/etc/nemo-ha/routers.txt": 0o600,
            "/usr/share/man/man8/nemo-ha.8.gz": 0o644, "/usr/share/man/man8/nemo-hactl.8.gz": 0o644,
            "/usr/share/doc/nemo-ha/copyright": 0o644,
        }
        if os.path.exists(os.path.join(ROOT, "scripts", "nemo-hactl.bash-completion")):
            expected["/usr/share/bash-completion/completions/nemo-hactl"] = 0o644
        for p, mode in expected.items():
            st = os.stat(self.path(p))
            self.assertEqual(st.st_mode & 0o7777, mode, p)
            self.assertEqual((st.st_uid, st.st_gid), (0, 0), p)
        listed = subprocess.run(["dpkg", f"--root={self.root}", "-L", "nemo-ha"], capture_output=True, text=True).stdout.split()
        files = {p for p in listed if os.path.isfile(self.path(p))}
        self.assertEqual(files, set(expected), "the package holds exactly these files")
        status = subprocess.run(["dpkg", f"--root={self.root}", "-s", "nemo-ha"], capture_output=True, text=True).stdout
        self.assertIn("Status: install ok installed", status)
        # The installed binaries run (on this machine's libraries) and are the release build's.
        r = subprocess.run([self.path("/usr/sbin/nemo-ha"), "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "nemo-ha " + self.field("Version"))
        r = subprocess.run([self.path("/usr/bin/nemo-hactl"), "-s", os.path.join(self.dir, "none.sock"), "show", "version"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, "no daemon there: exit 2")
        self.assertIn("cannot reach nemo-ha", r.stderr)
        # The man pages are the source's.
        for page in ("nemo-ha.8", "nemo-hactl.8"):
            got = subprocess.run(["gzip", "-dc", self.path(f"/usr/share/man/man8/{page}.gz")], capture_output=True).stdout
            with open(os.path.join(PACKAGE, page), "rb") as f:
                self.assertEqual(got, f.read(), page)

    def test_2_depends_names_the_packages_of_the_linked_libraries(self):
        depends = {}
        for alt in self.field("Depends").split(","):
            m = re.fullmatch(r"\s*([a-z0-9.+-]+)(?:\s*\(\s*(>=|=|<=|>>|<<)\s*([^)]+)\))?\s*", alt)
            self.assertIsNotNone(m, f"cannot read Depends entry '{alt}'")
            depends[m.group(1)] = (m.group(2), m.group(3))
        for binary in ("/usr/sbin/nemo-ha", "/usr/bin/nemo-hactl"):
            elf = subprocess.run(["readelf", "-d", self.path(binary)], capture_output=True, text=True, check=True).stdout
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", elf)
            self.assertTrue(needed, binary)
            where = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(["ldd", self.path(binary)], capture_output=True,
                                                                               text=True).stdout, re.M))
            for lib in needed:
                self.assertIn(lib, where, f"{binary}: {lib} not found by ldd")
                owner = subprocess.run(["dpkg", "-S", os.path.realpath(where[lib])], capture_output=True, text=True)
                if owner.returncode != 0:
                    owner = subprocess.run(["dpkg", "-S", where[lib]], capture_output=True, text=True)
                pkg = owner.stdout.split(":")[0]
                self.assertIn(pkg, depends, f"{binary} links {lib} of {pkg}, which Depends does not name")
        self.assertIn("librte-mempool-ring23", depends, "EAL loads the ring mempool driver every mbuf pool needs")
        self.assertIn("libsystemd0", depends)
        # What Depends asks for is what this machine has (the package installs where it was built).
        for pkg, (op, version) in depends.items():
            have = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
            self.assertEqual(have.returncode, 0, f"{pkg} is not installed here")
            if op:
                ok = subprocess.run(["dpkg", "--compare-versions", have.stdout, {">=": "ge", "=": "eq", "<=": "le", ">>": "gt",
                                                                               "<<": "lt"}[op], version])
                self.assertEqual(ok.returncode, 0, f"{pkg} {have.stdout} does not satisfy {op} {version}")

    def test_3_unit_verifies_and_agrees_with_the_configuration(self):
        unit_path = self.path("/lib/systemd/system/nemo-ha.service")
        unit = parse_unit(read(unit_path))
        svc = lambda k: unit.get(("Service", k), [])  # noqa: E731
        self.assertEqual(svc("Type"), ["notify"])
        self.assertEqual(svc("NotifyAccess"), ["main"])
        self.assertEqual(svc("Restart"), ["on-failure"])
        self.assertEqual(svc("LimitMEMLOCK"), ["infinity"])
        self.assertEqual(svc("ProtectSystem"), ["strict"])
        self.assertEqual(svc("NoNewPrivileges"), ["yes"])
        self.assertEqual(svc("ExecStart"), ["/usr/sbin/nemo-ha --config /etc/nemo-ha/nemo-ha.ini"])
        watchdog = svc("WatchdogSec")
        self.assertEqual(len(watchdog), 1)
        self.assertGreaterEqual(int(watchdog[0].rstrip("s")), 2, "the stall threshold is at least 1 s: half of it")
        caps = set(" ".join(svc("CapabilityBoundingSet")).split())
        self.assertIn("CAP_IPC_LOCK", caps)
        self.assertFalse(caps & {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"}, caps)
        # The example configuration uses the directories the unit makes, and EAL's file prefix is the one
        # whose runtime directory the unit lets it write.
        cfg = parse_ini(read(self.path("/etc/nemo-ha/nemo-ha.ini")))
        self.assertEqual(cfg["state.dir"], "/var/lib/" + svc("StateDirectory")[0])
        runtime = svc("RuntimeDirectory")[0].split()
        self.assertEqual(os.path.dirname(cfg["cli.socket"]), "/run/" + runtime[0])
        prefix = re.search(r"--file-prefix[= ](\S+)", cfg["eal.args"]).group(1)
        self.assertIn(f"dpdk/{prefix}", runtime)
        self.assertEqual(cfg["provisioning.file"], "/etc/nemo-ha/routers.txt")
        # The installed configuration is valid once it names this machine's ports (no NIC, no hugepages here).
        r = subprocess.run([self.path("/usr/sbin/nemo-ha"), "--config", self.path("/etc/nemo-ha/nemo-ha.ini"), "--check",
                            f"--provisioning.file={self.path('/etc/nemo-ha/routers.txt')}",
                            "--eal.args=--no-huge -m 512 --no-pci -l 0-1 --vdev=net_null0 --vdev=net_null1",
                            "--access.port=net_null0", "--home.port=net_null1"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # systemd-analyze on the installed unit: its ExecStart and ExecReload pointed at the scratch root's
        # binaries (verify checks that they exist), the man pages looked up in the scratch root's.
        unit_copy = os.path.join(self.dir, "nemo-ha.service")
        with open(unit_copy, "w") as f:
            f.write(read(unit_path).replace("ExecStart=/usr/sbin/nemo-ha", "ExecStart=" + self.path("/usr/sbin/nemo-ha"))
                    .replace("ExecReload=/usr/bin/nemo-hactl", "ExecReload=" + self.path("/usr/bin/nemo-hactl")))
        env = dict(os.environ, MANPATH=self.path("/usr/share/man"))
        r = subprocess.run(["systemd-analyze", "verify", unit_copy], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), "systemd-analyze verify")
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit_copy], capture_output=True, text=True,
                           timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertLess(float(m.group(1)), 4.0, "the hardening has been loosened:\n" + r.stdout)

    def test_4_conffiles_kept_across_a_reinstall_and_purge_removes_all(self):
        conffiles = read(self.path("/var/lib/dpkg/info/nemo-ha.conffiles")).split()
        with open(os.path.join(PACKAGE, "conffiles")) as f:
            self.assertEqual(conffiles, f.read().split())
        ini = self.path("/etc/nemo-ha/nemo-ha.ini")
        with open(ini, "a") as f:
            f.write("# the operator's change\n")
        os.unlink(self.path("/etc/nemo-ha/routers.txt"))  # removed by the operator: stays removed
        r = dpkg_root(self.root, "--force-confold", "-i", self.deb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(read(ini).endswith("# the operator's change\n"), "a reinstall replaced the operator's conffile")
        self.assertFalse(os.path.exists(self.path("/etc/nemo-ha/routers.txt")))
        # A purge removes the files, the conffiles and the state store (it holds SA keys).
        os.makedirs(self.path("/var/lib/nemo-ha/db"))
        open(self.path("/var/lib/nemo-ha/db/CURRENT"), "w").close()
        r = dpkg_root(self.root, "--purge", "nemo-ha")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for p in ("/usr/sbin/nemo-ha", "/usr/bin/nemo-hactl", "/lib/systemd/system/nemo-ha.service", "/etc/nemo-ha/nemo-ha.ini",
                  "/var/lib/nemo-ha"):
            self.assertFalse(os.path.exists(self.path(p)), p)


class ManPages(unittest.TestCase):
    def test_pages_format_cleanly(self):
        for page in ("nemo-ha.8", "nemo-hactl.8"):
            path = os.path.join(PACKAGE, page)
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
            r = subprocess.run(["lexgrog", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"{page}: man-db cannot read its NAME section: {r.stdout}{r.stderr}")

    def test_nemo_ha_page_names_every_option_and_key(self):
        r = subprocess.run([NEMO_HA, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        page = roff_text(os.path.join(PACKAGE, "nemo-ha.8"))
        keys = re.findall(r"^\s+--([a-z_]+)\.([a-z0-9_]+)", r.stdout, re.M)
        self.assertGreater(len(keys), 30, r.stdout)
        sections = {}
        for section, key in keys:
            sections.setdefault(section, []).append(key)
        for section, names in sections.items():
            # Each key in its section's part of the page: from "[section]" to the next "[".
            m = re.search(r"\[" + section + r"\](.*?)(?=\n \[|\nSERVICE|\Z)", page, re.S)
            self.assertIsNotNone(m, f"nemo-ha.8 has no [{section}] section")
            for name in names:
                self.assertRegex(m.group(1), r"\b" + name + r"\b", f"nemo-ha.8 [{section}] lacks {name}")
        for opt in re.findall(r"(--[a-z]+)\b(?![.])", r.stdout.split("configuration (")[0]):
            self.assertIn(opt, page, f"nemo-ha.8 lacks {opt}")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
