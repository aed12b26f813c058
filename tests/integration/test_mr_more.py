#!/usr/bin/python3
"""nemo-mr, more than test_mr.py checks:

(a) a legacy home agent that answers: scapy plays an HA (no nemo-ha) on the HA's namespace and answers
    the router's BUs with a BA accepting them but WITHOUT the IPv4 CoA option (draft 4.3 / 7.4). nemo-mr
    must give up IPv4 CoA registrations with that HA (no further BU) and say so in `nemo-mr status`.
(b) the NAT's external port changing while the binding lives (nftables SNAT to 198.51.100.20:7000, then
    :7001 and the conntrack table flushed, as a NAT reboot or a mapping timeout would): traffic resumes
    after the router's next keepalive refresh, and nemo-ha's binding shows the new port.

    /usr/bin/python3 tests/integration/test_mr_more.py   (as root) [-v]
"""
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

os.environ.setdefault("NEMO_NS_PREFIX", "nmrm-")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import CN, HA4, HA6, HomeAgent, mac_of, netns, ns_name, start_sniffer  # noqa: E402
# The module's namespaces and the router's TUN: test_mr's set-up, shared.
from test_mr import MNN, MR_HOA, PROVISION, MobileRouter, in_mr, wait_for  # noqa: E402
from test_mr import setUpModule, tearDownModule  # noqa: E402,F401
from scapy.all import IP, Ether, IPv6, sendp  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU  # noqa: E402



def in_ha(*args, **kw):
    return subprocess.run(["ip", "netns", "exec", ns_name("nemo-ha"), *args], capture_output=True, text=True, **kw)


class ScapyLegacyHomeAgent:
    """An HA on ha-acc (the kernel holds 198.51.100.1 there, for ARP) that answers each BU tunneled in
    IPv6-in-IPv4 with a BA: accepted, R flag, the BU's sequence number and lifetime, no IPv4 CoA option."""

    FIREWALL = """
table ip nemo_legacy_ha {
    chain input { type filter hook input priority filter; policy accept; ip protocol 41 drop; }
}
"""

    def __init__(self):
        self.bus = []
        self.lock = threading.Lock()

    def __enter__(self):
        r = in_ha("ip", "addr", "add", HA4 + "/24", "dev", "ha-acc")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        # The kernel must not answer the tunneled packets itself (ICMP protocol unreachable): scapy does.
        r = in_ha("nft", "-f", "-", input=self.FIREWALL)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        self.mac = mac_of("nemo-ha", "ha-acc")
        # The capture is open before the router starts.
        self.sniffer = start_sniffer("nemo-ha", iface="ha-acc", filter=f"ip proto 41 and dst host {HA4}", prn=self.answer,
                                     store=False)
        return self

    def answer(self, p):
        inner = p[IP].payload
        if not isinstance(inner, IPv6) or not inner.haslayer(MIP6MH_BU):
            return
        bu = inner[MIP6MH_BU]
        with self.lock:
            self.bus.append(bu)
        ba = Ether(src=self.mac, dst=p[Ether].src) / IP(src=HA4, dst=p[IP].src) / IPv6(src=HA6, dst=inner.src) / MIP6MH_BA(
            status=0, flags="R", seq=bu.seq, mhtime=bu.mhtime)
        with netns("nemo-ha"):
            sendp(ba, iface="ha-acc")

    def count(self):
        with self.lock:
            return len(self.bus)

    def __exit__(self, *exc):
        self.sniffer.stop()
        in_ha("nft", "delete", "table", "ip", "nemo_legacy_ha")
        in_ha("ip", "addr", "del", HA4 + "/24", "dev", "ha-acc")


@unittest.skipUnless(shutil.which("nft"), "nft (Debian nftables) not installed")
class LegacyHomeAgentAnswering(unittest.TestCase):
    def test_a_ba_without_the_ipv4_coa_option_ends_ipv4_registration(self):
        with ScapyLegacyHomeAgent() as ha, MobileRouter("--methods", "ipip") as mr:
            st = wait_for("nemo-mr status: legacy-ha", lambda: (s := mr.status())["phase"] == "legacy-ha" and s)
            self.assertTrue(st["legacy_ha"], st)
            self.assertFalse(st["tunnel_up"], "no tunnel to a legacy HA")
            self.assertEqual(st["last_status"], 0, "the BA itself accepted the BU")
            self.assertIn("BA accepted (0) without the IPv4 CoA option", mr.output())
            self.assertEqual(ha.count(), 1, "one BU answered, then no more")
            bu_sent = st["counters"]["bu_sent"]
            # Not a timing assertion: however long we wait, no IPv4 CoA BU may follow (its retransmission
            # would have come after 1 s).
            time.sleep(2.5)
            self.assertEqual(mr.status()["counters"]["bu_sent"], bu_sent, "no BU after giving up")
            self.assertEqual(ha.count(), 1, "no BU reached the HA after giving up")
            self.assertEqual(mr.stop(), 0, mr.output())


def nat_rules(port):
    return f"""
table ip nemo_mr_nat {{
    chain post {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "mr0" ip saddr 198.51.100.10 ip protocol udp snat to 198.51.100.20:{port}
        oifname "mr0" ip saddr 198.51.100.10 snat to 198.51.100.20
    }}
}}
"""


def set_nat(port):
    in_mr("nft", "delete", "table", "ip", "nemo_mr_nat")
    r = in_mr("nft", "-f", "-", input=nat_rules(port))
    if r.returncode != 0:
        raise AssertionError(r.stderr)


@unittest.skipUnless(shutil.which("nft") and shutil.which("conntrack"),
                     "nft (Debian nftables) and conntrack (Debian conntrack) needed")
class NatPortChange(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ha = HomeAgent(PROVISION).__enter__()

    @classmethod
    def tearDownClass(cls):
        in_mr("nft", "delete", "table", "ip", "nemo_mr_nat")
        in_mr("conntrack", "-F")
        code = cls.ha.stop()
        assert code == 0, f"nemo-ha did not stop cleanly: {code}"

    def binding(self):
        return self.ha.bindings().get(MR_HOA)

    def ping_cn(self, count=3):
        return in_mr("ping", "-c", str(count), "-i", "0.3", "-W", "2", "-I", MNN, CN, timeout=20)

    def test_a_new_external_port_is_taken_at_the_next_keepalive(self):
        set_nat(7000)
        # gre first: refused behind the NAT with 144 offering U, which is how nemo-mr learns it is behind a
        # NAT (nemo-ha's BA carries no NAT Detection option) and starts its keepalive refreshes.
        with MobileRouter("--methods", "gre,udp", "--nat-keepalive", "2") as mr:
            b = wait_for("a udp binding via 198.51.100.20:7000",
                         lambda: (x := self.binding()) and x["method"] == "udp" and x)
            self.assertEqual((b["peer"], b["peer_port"], b["behind_nat"]), ("198.51.100.20", 7000, True))
            st = wait_for("nemo-mr registered behind a NAT", lambda: (s := mr.status())["phase"] == "registered" and s)
            self.assertTrue(st["behind_nat"])
            self.assertEqual(self.ping_cn().returncode, 0, "traffic through the NAT before the change")

            # The NAT forgets its mappings and maps the router's UDP to a new port from now on.
            set_nat(7001)
            r = in_mr("conntrack", "-F")
            self.assertEqual(r.returncode, 0, r.stderr)
            # Within a few keepalive periods (2 s): the next ordinary refresh would be 85 % of 600 s away.
            b = wait_for("nemo-ha's binding on the NAT's new port 7001",
                         lambda: (x := self.binding()) and x["peer_port"] == 7001 and x, timeout=8)
            self.assertEqual((b["peer"], b["method"], b["care_of"]), ("198.51.100.20", "udp", "198.51.100.10"))
            r = self.ping_cn()
            self.assertEqual(r.returncode, 0, f"traffic resumed through the new mapping:\n{r.stdout}{mr.output()}")
            self.assertEqual(mr.stop(), 0, mr.output())
            wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)


if __name__ == "__main__":
    unittest.main()
