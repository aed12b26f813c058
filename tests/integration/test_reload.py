#!/usr/bin/python3
"""Reload (issue 15) end to end: the real daemon in namespaces on a provisioning file of its own, two
mobile routers registered with scapy, traffic flowing to one of them while the file is rewritten (a
router added, the other removed) and SIGHUP sent; then files with errors, by SIGHUP and by
`nemo-hactl reload`.

    NEMO_NS_PREFIX=x- /usr/bin/python3 tests/integration/test_reload.py   (as root) [-v]

Checked: not one packet to the unchanged router lost across the reload (each one counted as it arrives
in its tunnel); the removed router's binding gone and counted (nemoHaReloadBindingsRemoved), its BUs
answered 133; the added router registers; a file with an error refused whole, with FILE:LINE in
nemo-hactl's answer (exit status 1) and in the log, and the bindings and provisioning as they were.
"""
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import (CN, MNP_A, HomeAgent, Topology, register, send_many, start_sniffer,  # noqa: E402
                          tunnel_filter, inner_of)
from scapy.all import UDP, IPv6, Raw  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA  # noqa: E402

TOPOLOGY = None

HOA_A = "2001:db8:1::100"  # stays in the file: its traffic must not notice the reload
HOA_B = "2001:db8:1::200"  # removed by the reload
HOA_C = "2001:db8:1::300"  # added by it
MNP_B = "2001:db8:cccc::"
MNP_C = "2001:db8:dddd::"
HOST_A = "2001:db8:aaaa::5"
LINE_A = f"{HOA_A} router prefixes={MNP_A}/48 methods=ipip,gre\n"
LINE_B = f"{HOA_B} router prefixes={MNP_B}/48\n"
LINE_C = f"{HOA_C} router prefixes={MNP_C}/48\n"

# The built-in demo configuration without its mr lines: the provisioning comes from the file alone.
CONFIG = """[ha]
ipv6 = 2001:db8:1::1
ipv4 = 198.51.100.1
home_prefix = 2001:db8:1::/64
methods = ipv6,ipip,gre,udp
max_lifetime = 600
allow_unprotected_signaling = yes
[provisioning]
file = {file}
[eal]
args = --no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix={prefix} --log-level=lib.eal:error --vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1
[access]
port = net_af_packet0
[home]
port = net_af_packet1
"""


def setUpModule():
    global TOPOLOGY
    TOPOLOGY = Topology().__enter__()


def tearDownModule():
    TOPOLOGY.__exit__(None, None, None)


def status_of(inner):
    return inner[MIP6MH_BA].status if inner is not None and inner.haslayer(MIP6MH_BA) else None


class Reload(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nemo-reload-test-")
        self.file = os.path.join(self.tmp, "routers.txt")
        self.write(LINE_A + LINE_B)
        cfg = os.path.join(self.tmp, "nemo-ha.ini")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(file=self.file, prefix="nemo-reload-" + str(os.getpid())))
        self.ha = HomeAgent(f"--config={cfg}").__enter__()

    def tearDown(self):
        self.ha.__exit__(*sys.exc_info())

    def write(self, text):
        # Written aside and renamed, as deployment tools do: the daemon never reads half a file.
        with open(self.file + ".new", "w") as f:
            f.write(text)
        os.rename(self.file + ".new", self.file)

    def wait_counter(self, name, value, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.ha.stats()[name] >= value:
                return
            time.sleep(0.05)
        self.fail(f"{name} did not reach {value}: {self.ha.stats()[name]}\n{self.ha.output()}")

    def sighup(self):
        self.ha.proc.send_signal(signal.SIGHUP)  # `ip netns exec` execs nemo-ha: the same process

    def test_reload_by_sighup_and_by_nemo_hactl(self):
        # Two routers registered.
        _, ba = register("ipip", 10, hoa=HOA_A, prefixes=(MNP_A,))
        self.assertEqual(status_of(ba), 0)
        _, ba = register("gre", 20, hoa=HOA_B, prefixes=(MNP_B,))
        self.assertEqual(status_of(ba), 0)
        self.assertEqual(set(self.ha.bindings()), {HOA_A, HOA_B})
        before_a = self.ha.ctl("show", "binding", HOA_A)

        # Traffic to router A's network, numbered, while the file changes and SIGHUP arrives.
        n = 600
        pkts = [IPv6(src=CN, dst=HOST_A) / UDP(sport=7000, dport=9) / Raw(b"%06d" % i) for i in range(n)]
        seen = set()

        def on_pkt(p):
            try:
                inner = inner_of(p, "ipip")
                if inner.dst == HOST_A and inner.haslayer(Raw):
                    seen.add(int(bytes(inner[Raw].load)[:6]))
            except Exception:
                pass

        sniffer = start_sniffer("nemo-mr", iface="mr0", filter=tunnel_filter("ipip"), prn=on_pkt, store=False)

        def send():
            for i in range(0, n, 20):  # 20 back to back every 10 ms: the reload lands in the middle
                send_many("nemo-cn", pkts[i:i + 20])
                time.sleep(0.01)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)
        self.write(LINE_A + LINE_C)
        self.sighup()
        self.wait_counter("nemoHaReloads", 1)
        self.assertTrue(sender.is_alive(), "the traffic ended before the reload: it proves nothing")
        sender.join()
        time.sleep(1.0)
        sniffer.stop()
        self.assertEqual(len(seen), n, f"{n - len(seen)} packets to the unchanged router lost")

        # A untouched, B's binding gone and counted, C provisioned and registering.
        stats = self.ha.stats()
        self.assertEqual(stats["nemoHaReloadBindingsRemoved"], 1)
        self.assertEqual(stats["nemoHaReloadsRefused"], 0)
        after_a = self.ha.ctl("show", "binding", HOA_A)
        for k in ("care_of", "sequence", "slot", "registrations", "method"):
            self.assertEqual(after_a[k], before_a[k], k)
        self.assertEqual(set(self.ha.bindings()), {HOA_A})
        self.assertIn("nemo-ha: reloaded", self.ha.output())
        self.assertRegex(self.ha.output(), r"mobile nodes 1 added, 1 removed, 0 changed, 1 unchanged; .* 1 binding\(s\) removed")
        _, ba = register("gre", 21, hoa=HOA_B, prefixes=(MNP_B,))
        self.assertEqual(status_of(ba), 133)
        _, ba = register("ipip", 30, hoa=HOA_C, prefixes=(MNP_C,))
        self.assertEqual(status_of(ba), 0)
        self.assertEqual(set(self.ha.bindings()), {HOA_A, HOA_C})

        # A file with an error: refused whole (C's removal and D's addition above the bad line too).
        mr_before = self.ha.ctl("show", "mr")
        self.write(LINE_A + "2001:db8:1::400 router\n" + "2001:db8:1::500 router prefixes=not-a-prefix\n")
        r = self.ha.ctl_raw("reload")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("reload refused, nothing changed", r.stderr)
        self.assertIn(self.file + ":3: ", r.stderr)
        self.assertEqual(self.ha.ctl("show", "mr"), mr_before)
        self.assertEqual(set(self.ha.bindings()), {HOA_A, HOA_C})
        self.assertEqual(self.ha.stats()["nemoHaReloadsRefused"], 1)
        # SIGHUP with the same file: refused too, said in the log.
        self.sighup()
        self.wait_counter("nemoHaReloadsRefused", 2)
        log = self.ha.output()
        self.assertEqual(len(re.findall(r"reload refused, nothing changed: " + re.escape(self.file) + ":3: ", log)), 2, log)
        self.assertEqual(set(self.ha.bindings()), {HOA_A, HOA_C})

        # `nemo-hactl reload` does what SIGHUP does: C removed (its binding counted), B back.
        self.write(LINE_A + LINE_B)
        r = self.ha.ctl_raw("--json", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"bindings_removed":1', r.stdout)
        self.assertEqual(set(self.ha.bindings()), {HOA_A})
        stats = self.ha.stats()
        self.assertEqual(stats["nemoHaReloads"], 2)
        self.assertEqual(stats["nemoHaReloadBindingsRemoved"], 2)
        _, ba = register("gre", 22, hoa=HOA_B, prefixes=(MNP_B,))
        self.assertEqual(status_of(ba), 0)
        self.assertEqual(self.ha.ctl("show", "binding", HOA_A)["slot"], before_a["slot"])


if __name__ == "__main__":
    unittest.main()
