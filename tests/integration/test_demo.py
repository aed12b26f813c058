#!/usr/bin/python3
"""scripts/demo.py works: run as the README runs it (after the build), in namespaces of this test's own
(NEMO_NS_PREFIX, default ndemo-), it must pass traffic over every method: for each of I, R, U and U behind
the NAT, the host's pings answered and iperf3 bytes received, the binding with its method (behind the NAT:
the NAT's address and port), a summary row marked PASS, "demo succeeded", exit 0, and nothing left behind
(namespaces, processes). Then a demo broken on purpose (the HA made to refuse U) must report that method
FAIL and the demo FAILED, exit 1, still cleaning up. About 30 s.

    /usr/bin/python3 tests/integration/test_demo.py   (as root) [-v]
"""
import os
import re
import shutil
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PREFIX = os.environ.setdefault("NEMO_NS_PREFIX", "ndemo-")
DEMO = os.path.join(ROOT, "scripts", "demo.py")

ROWS = {"ipip": "I  (IPv6-in-IPv4)", "gre": "R  (GRE)", "udp": "U  (UDP 4191)", "udp-nat": "U  behind a NAT"}


def run_demo(*args, timeout=110):
    return subprocess.run(["/usr/bin/python3", DEMO, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def leftovers():
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    mine = [line.split()[0] for line in ns.splitlines() if line.startswith(PREFIX)]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    # The demo's processes (nemo-ha, nemo-mr, iperf3 -s) name its directory, /tmp/nemo-demo-<prefix>*.
    stray = [p for p in procs.splitlines() if f"nemo-demo-{PREFIX}" in p]
    return mine, stray


def section(out, label):
    """The demo's output for one method: from its === header to the next."""
    m = re.search(rf"^=== {re.escape(label)} ===$(.*?)(?=^=== |^summary$)", out, re.S | re.M)
    return m.group(1) if m else ""


@unittest.skipUnless(shutil.which("nft") and shutil.which("iperf3") and shutil.which("ethtool"),
                     "the demo needs nft (nftables), iperf3 and ethtool")
class Demo(unittest.TestCase):
    def test_every_method_passes_traffic(self):
        r = run_demo()
        out = r.stdout
        self.assertEqual(r.returncode, 0, f"the demo failed:\n{out}\n{r.stderr}")
        for method, label in ROWS.items():
            with self.subTest(method=method):
                sec = section(out, label)
                self.assertTrue(sec, f"no section for {label}:\n{out}")
                m = re.search(r"ping \S+ -> \S+: (\d+)/(\d+) answered", sec)
                self.assertTrue(m and int(m.group(1)) > 0, f"no ping answered over {method}:\n{sec}")
                self.assertRegex(sec, r"rtt min/avg/max [\d.]+/[\d.]+/[\d.]+ ms")
                m = re.search(r"iperf3 TCP .*?sender ([\d.]+) Mbit/s, receiver ([\d.]+) Mbit/s, (\d+) bytes, (\d+) retransmits",
                              sec)
                self.assertTrue(m, f"no iperf3 result over {method}:\n{sec}")
                self.assertGreater(int(m.group(3)), 0, f"iperf3 moved no bytes over {method}")
                self.assertGreater(float(m.group(2)), 0.0)
                binding = re.search(r"^2001:db8:1::100\s+router\s+(\S+)\s+(.*)$", sec, re.M)
                self.assertTrue(binding, f"no binding in nemo-hactl show bindings:\n{sec}")
                self.assertEqual(binding.group(1), "udp" if method == "udp-nat" else method)
                if method == "udp-nat":
                    self.assertIn("198.51.100.10:4191 via 198.51.100.20:7000", binding.group(2))
                else:
                    self.assertNotIn(" via ", binding.group(2))
                self.assertIn("nemo-mr stop   (de-registered", sec)
                row = re.search(rf"^{re.escape(label)}\s+(\d+)/\d+.*\s(PASS|FAIL)$", out, re.M)
                self.assertTrue(row, f"no summary row for {label}:\n{out}")
                self.assertEqual(row.group(2), "PASS")
        self.assertIn("demo succeeded", out)
        self.assertEqual(leftovers(), ([], []), "namespaces or processes left behind")

    def test_a_method_that_carries_nothing_fails_the_demo(self):
        # A broken demo must say so: an HA that does not offer U answers nemo-mr's udp with 144 and no
        # method in common; that method's row is FAIL, the demo FAILED, exit 1, and still cleaned up.
        r = run_demo("--methods", "ipip,udp", "--iperf-seconds", "1", "--ha-option=--ha.methods=ipv6,ipip,gre")
        out = r.stdout
        self.assertEqual(r.returncode, 1, f"{out}\n{r.stderr}")
        self.assertRegex(out, re.compile(rf"^{re.escape(ROWS['ipip'])}\s.*PASS$", re.M), "ipip still works")
        self.assertRegex(out, re.compile(rf"^{re.escape(ROWS['udp'])}\s.*FAIL$", re.M))
        self.assertIn("[udp] FAILED: nemo-mr gave up: no-method", out)
        self.assertIn("demo FAILED", out)
        self.assertNotIn("demo succeeded", out)
        self.assertEqual(leftovers(), ([], []))
        # A failed demo keeps its logs and says where: this one failed on purpose.
        kept = re.search(r"^logs kept in (/\S+)$", r.stderr, re.M)
        self.assertTrue(kept, r.stderr)
        shutil.rmtree(kept.group(1), ignore_errors=True)

    def test_an_unknown_method_is_refused(self):
        r = run_demo("--methods", "ipip,esp")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("unknown method 'esp'", r.stderr)


if __name__ == "__main__":
    unittest.main()
