#!/usr/bin/python3
"""nemo-ha's log as an operator reads it: under systemd (JOURNAL_STREAM naming its stderr, so that the
journal target is chosen by itself) every line carries sd-daemon's "<N>" priority, DPDK's EAL lines
included; binding events (created, moved, refreshed, removed, expired) at info with the home address,
care-of address, NAT, method, lifetime and sequence number; never a key. And the syslog target, against a
socket the test binds over /dev/log in a private mount namespace (the host's syslog is not touched).

    NEMO_NS_PREFIX=x- /usr/bin/python3 tests/integration/test_logs.py   (as root) [-v]
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import (COA, HA6, HOA, NAT, BU_A, BU_H, BU_R, HomeAgent, Topology, binary, binding_update,  # noqa: E402
                          carries, exchange, register, send_many, tunnel, tunnel_filter)
from scapy.all import IPv6  # noqa: E402
from procs import stop_process  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU  # noqa: E402

SA_HOA = "2001:db8:1::200"
# Keys of an SA of another router: the daemon reads them, and its log must never show them.
ENC_KEY = bytes.fromhex("5eed0fc0ffee1234deadbeef0badf00d")
AUTH_KEY = bytes.fromhex("a5a5a5a5c3c3c3c30f0f0f0f99999999feedfacecafebeef0123456789abcdef")
EAL = ("--no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix={prefix} --log-level=lib.eal:info "
       "--vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1")


def wait_for(ha, pattern, timeout=5.0):
    """The first match of `pattern` in what the daemon logged, waiting for it to be written."""
    deadline = time.time() + timeout
    while True:
        m = re.search(pattern, ha.output(), re.M)
        if m or time.time() > deadline:
            return m
        time.sleep(0.1)


class JournalTarget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.topology = Topology().__enter__()
        cls.keydir = tempfile.mkdtemp(prefix="nemo-logs-keys-")

        def key_file(name, key):
            path = os.path.join(cls.keydir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key.hex() + "\n")
            return "@" + path

        prefix = os.environ.get("NEMO_NS_PREFIX", "nemo-") + "logs"
        cls.ha = HomeAgent(f"--eal.args={EAL.format(prefix=prefix)}",
                           f"--ipsec.sa=in 0x3001 {SA_HOA} aes-cbc-128-hmac-sha256 enc={key_file('enc', ENC_KEY)} "
                           f"auth={key_file('auth', AUTH_KEY)}")
        # As systemd starts a service: JOURNAL_STREAM names the file its stderr is (here the log file).
        open(cls.ha.log, "a").close()
        st = os.stat(cls.ha.log)
        os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        try:
            cls.ha.start()
        finally:
            del os.environ["JOURNAL_STREAM"]

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.ha.stop()
            assert code == 0, f"nemo-ha did not stop cleanly: {code}\n{cls.ha.output()}"
        finally:
            cls.topology.__exit__(None, None, None)
            shutil.rmtree(cls.keydir, ignore_errors=True)

    def test_1_every_line_has_a_priority_eal_included(self):
        self.assertTrue(wait_for(self.ha, r"^<5>nemo-ha \S+: 1 worker\(s\), .*forwarding \d+ ms after start$"), self.ha.output())
        self.assertRegex(self.ha.output(), r"(?m)^<[67]>EAL: ", "EAL's own lines, through the logger")
        for line in self.ha.output().splitlines():
            self.assertRegex(line, r"^<[0-7]>\S", "a line without its priority")

    def test_2_binding_events(self):
        ha = self.ha
        # Created: UDP from COA.
        _, inner = register("udp", 11, lifetime=100)
        self.assertIsNotNone(inner, "no BA")
        self.assertEqual(inner[MIP6MH_BA].status, 0)
        m = wait_for(ha, rf"^<6>nemo-ha: binding created hoa={re.escape(HOA)} coa={re.escape(COA)} method=udp lifetime=(\d+) seq=11 router prefixes=2001:db8:aaaa::/48$")
        self.assertTrue(m, ha.output())
        b = ha.bindings()[HOA]
        self.assertEqual((int(m.group(1)), b["sequence"], b["care_of"]), (b["lifetime"], 11, COA), "the line says what the cache holds")
        # Moved: the same router from behind a NAT (the option still names COA:5555).
        _, inner = register("udp", 12, outer_src=NAT, sport=40000)
        self.assertIsNotNone(inner, "no BA")
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding moved hoa={re.escape(HOA)} coa={re.escape(COA)} nat={re.escape(NAT)}:40000 "
                                     rf"method=udp from={re.escape(COA)} from_method=udp lifetime=\d+ seq=12 router"), ha.output())
        # Refreshed: the same again.
        _, inner = register("udp", 13, outer_src=NAT, sport=40000)
        self.assertIsNotNone(inner, "no BA")
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding refreshed hoa={re.escape(HOA)} coa={re.escape(COA)} nat={re.escape(NAT)}:40000 "
                                     r"method=udp lifetime=\d+ seq=13"), ha.output())
        # A new method from another care-of address: moved.
        _, inner = register("gre", 14)
        self.assertIsNotNone(inner, "no BA")
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding moved hoa={re.escape(HOA)} coa={re.escape(COA)} method=gre "
                                     rf"from={re.escape(COA)} nat={re.escape(NAT)}:40000 from_method=udp lifetime=\d+ seq=14"), ha.output())
        # De-registration: tunneled from IPv4 without the IPv4 CoA option.
        dereg = IPv6(src=HOA, dst=HA6) / MIP6MH_BU(seq=15, flags=BU_A | BU_H | BU_R, mhtime=0)
        got = exchange(tunnel("gre", dereg), tunnel_filter("gre"), lfilter=carries("gre", MIP6MH_BA))
        self.assertTrue(got, "no BA to the de-registration")
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding removed hoa={re.escape(HOA)} coa={re.escape(COA)} method=gre "
                                     r"remaining=\d+ reason=deregistration seq=15"), ha.output())
        self.assertNotIn(HOA, ha.bindings())
        # Operator: clear binding.
        self.assertIsNotNone(register("ipip", 16)[1], "no BA")
        self.assertEqual(ha.ctl_raw("clear", "binding", HOA).returncode, 0)
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding removed hoa={re.escape(HOA)} coa={re.escape(COA)} method=ipip "
                                     r"remaining=\d+ reason=operator seq=16"), ha.output())
        # Expired.
        self.assertIsNotNone(register("ipip", 17, lifetime=1)[1], "no BA")
        self.assertTrue(wait_for(ha, rf"^<6>nemo-ha: binding expired hoa={re.escape(HOA)} coa={re.escape(COA)} method=ipip seq=17",
                                 timeout=8), ha.output())
        self.assertEqual(ha.stats()["nemoHaBindingEventsNotLogged"], 0)

    def test_3_no_key_in_the_log(self):
        out = self.ha.output().lower()
        self.assertIn("0x3001", self.ha.ctl_raw("show", "sa").stdout.lower(), "the SA was loaded")
        for key in (ENC_KEY, AUTH_KEY):
            self.assertNotIn(key.hex(), out)
            self.assertNotIn(key.hex()[:16], out)  # nor a part of one

    def test_4_rate_limited_and_counted(self):
        # A home agent of its own, allowing 2 events a second, and a burst of 10 registrations.
        code = self.ha.stop()
        self.assertEqual(code, 0, self.ha.output())
        prefix = os.environ.get("NEMO_NS_PREFIX", "nemo-") + "logs"
        ha = type(self).ha = HomeAgent(f"--eal.args={EAL.format(prefix=prefix)}", "--log.target=journal",
                                       "--log.binding_events_per_second=2").start()
        send_many("nemo-mr", [tunnel("udp", binding_update(seq, "udp")) for seq in range(1, 11)])
        deadline = time.time() + 5
        while time.time() < deadline and ha.stats()["mip6HaBUsAccepted"] < 10:
            time.sleep(0.1)
        self.assertEqual(ha.stats()["mip6HaBUsAccepted"], 10)
        held = ha.stats()["nemoHaBindingEventsNotLogged"]
        self.assertGreater(held, 0)
        self.assertTrue(wait_for(ha, r"^<5>nemo-ha: \d+ binding events not logged \(over log.binding_events_per_second\)$"), ha.output())
        # What was held back after the first report is said at the next, up to 10 s later.
        deadline = time.time() + 12
        while True:
            out = ha.output()
            said = sum(int(n) for n in re.findall(r"(?m)^<5>nemo-ha: (\d+) binding events not logged", out))
            if said >= held or time.time() > deadline:
                break
            time.sleep(0.2)
        logged = len(re.findall(r"(?m)^<6>nemo-ha: binding (created|refreshed) ", out))
        self.assertEqual(logged + held, 10, out)
        self.assertEqual(said, held, "the reports say how many the counter counted")


class SyslogTarget(unittest.TestCase):
    """log.target = syslog: datagrams to /dev/log, facility daemon. /dev/log is the test's socket, bound
    over it in a mount namespace of the daemon's own (a tmpfs /dev with the few devices EAL opens)."""

    def test_syslog_datagrams(self):
        d = tempfile.mkdtemp(prefix="nemo-logs-syslog-")
        sock_path = os.path.join(d, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(0.2)
        prefix = os.environ.get("NEMO_NS_PREFIX", "nemo-") + "logs-syslog"
        daemon = [binary("nemo-ha"), f"--eal.args=--no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix={prefix} "
                  "--log-level=lib.eal:info --vdev=net_null0 --vdev=net_null1",
                  "--access.port=net_null0", "--home.port=net_null1", "--log.target=syslog", "--state.backend=none",
                  f"--cli.socket={d}/cli.sock"]
        script = ("set -e; mkdir -p \"$D/olddev\"; mount --rbind /dev \"$D/olddev\"; mount -t tmpfs -o mode=755 none /dev; "
                  "for f in null zero full random urandom; do touch /dev/$f; mount --bind \"$D/olddev/$f\" /dev/$f; done; "
                  "mkdir /dev/shm; mount --bind \"$D/olddev/shm\" /dev/shm; "
                  "touch /dev/log; mount --bind \"$D/log.sock\" /dev/log; exec \"$@\"")
        err_path = os.path.join(d, "stderr")
        with open(err_path, "w") as err:
            proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *daemon],
                                    stdout=err, stderr=subprocess.STDOUT, env={**os.environ, "D": d})
        got = []
        try:
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                try:
                    got.append(sock.recv(65536).decode(errors="replace"))
                except socket.timeout:
                    pass
                if any("forwarding" in g for g in got):
                    break
        finally:
            stop_process(proc, timeout=20)
            try:
                while True:
                    got.append(sock.recv(65536).decode(errors="replace"))
            except (socket.timeout, OSError):
                pass
            sock.close()
            with open(err_path) as f:
                stderr = f.read()
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(proc.returncode, 0, stderr)
        text = "\n".join(got)
        # RFC 3164 as glibc writes it: <facility*8+severity>TIMESTAMP nemo-ha[PID]: message; daemon is 3.
        self.assertRegex(text, rf"<29>\w+ +\d+ [\d:]+ nemo-ha\[{proc.pid}\]: nemo-ha \S+: 1 worker\(s\), .*forwarding \d+ ms after start")
        self.assertRegex(text, rf"<30>\w+ +\d+ [\d:]+ nemo-ha\[{proc.pid}\]: EAL: ")
        self.assertRegex(text, r"<29>.*nemo-ha: stopping")
        self.assertNotIn("forwarding", stderr, "syslog only")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
