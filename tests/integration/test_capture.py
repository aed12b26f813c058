#!/usr/bin/python3
"""Capture of a running nemo-ha with dpdk-dumpcap (Debian `dpdk`): the daemon in network namespaces on
hugepages with EAL's shared configuration, dumpcap attached to the access port as a DPDK secondary
process, a Binding Update from scapy; the pcapng dumpcap wrote must hold that BU, the daemon's BA and the
traffic the workers forwarded meanwhile. And the demo's EAL arguments (--no-shconf --no-huge), which leave
dumpcap nothing to attach to: said at start, refused with capture.enabled = yes.

A DPDK 22.11 secondary cannot map --no-huge memory, so the test reserves 2 MB hugepages (root) and mounts
hugetlbfs on a directory of its own, and gives both back afterwards, also on failure.

    /usr/bin/python3 tests/integration/test_capture.py   (as root) [-v]
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import (CN, COA, HA4, HA6, HOA, MNP_A, NS_PREFIX, HomeAgent, Topology,  # noqa: E402
                          binary, carries, inner_of, ns_name, register, send_from, start_sniffer)
from scapy.all import IP, IPv6, raw, rdpcap  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoRequest, MIP6MH_BA, MIP6MH_BU  # noqa: E402
from procs import stop_process  # noqa: E402

NR_HUGEPAGES = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
PAGES = 128  # 256 MB: the daemon takes about 50 MB, dumpcap's packet pool a few more
PREFIX = f"{NS_PREFIX}capture-{os.getpid()}"  # EAL's --file-prefix: this run's own
DUMPCAP = shutil.which("dpdk-dumpcap")
KEEP = os.environ.get("NEMO_KEEP_CAPTURE")  # keeps the pcapng and dumpcap's output, for a look
EAL_PORTS = "--vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1"


class Hugepages:
    """PAGES more 2 MB hugepages than the machine had, and a hugetlbfs of their size on a private
    directory; on exit the mount goes and the count drops back by what was added."""

    def __enter__(self):
        self.added = 0
        self.dir = tempfile.mkdtemp(prefix="nemo-capture-huge-")
        self.mounted = False
        try:
            try:
                with open(NR_HUGEPAGES) as f:
                    before = int(f.read())
                with open(NR_HUGEPAGES, "w") as f:
                    f.write(str(before + PAGES))
                with open(NR_HUGEPAGES) as f:
                    self.added = int(f.read()) - before
            except OSError as e:
                raise unittest.SkipTest(f"this machine cannot reserve 2 MB hugepages ({NR_HUGEPAGES}: {e}); "
                                        "DPDK 22.11 secondaries cannot attach to --no-huge memory")
            if self.added < PAGES:
                raise unittest.SkipTest(f"the kernel gave {self.added} of {PAGES} 2 MB hugepages ({NR_HUGEPAGES}): "
                                        "not enough contiguous free memory")
            m = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", self.dir],
                               capture_output=True, text=True)
            if m.returncode != 0:
                raise unittest.SkipTest(f"cannot mount hugetlbfs: {m.stderr.strip()}")
            self.mounted = True
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", self.dir], check=False)
        os.rmdir(self.dir)
        if self.added:
            with open(NR_HUGEPAGES) as f:
                now = int(f.read())
            with open(NR_HUGEPAGES, "w") as f:
                f.write(str(max(0, now - self.added)))


class Dumpcap:
    """dpdk-dumpcap on `port` of the nemo-ha of EAL prefix `prefix`, writing a pcapng, run in the daemon's
    namespace; ready once it counts packets ("Capturing on" comes before it asks the daemon, "Packets
    captured:" after the daemon enabled the capture). stop(): SIGINT, as an operator's Ctrl-C."""

    def __init__(self, prefix, port, path):
        # stdbuf: dumpcap's stdout (its "Capturing on" line) would wait in a buffer behind stderr's count.
        self.args = ["ip", "netns", "exec", ns_name("nemo-ha"), "stdbuf", "-oL", DUMPCAP, f"--file-prefix={prefix}", "-i", port, "-w", path]
        self.path = path
        self.err = path + ".log"

    def __enter__(self):
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(self.args, stdout=err, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dpdk-dumpcap exited with {self.proc.returncode}:\n{self.output()}")
            if "Packets captured:" in self.output():
                return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError("dpdk-dumpcap did not start capturing:\n" + self.output())

    def output(self):
        with open(self.err) as f:
            return f.read()

    def stop(self):
        return stop_process(self.proc, signal.SIGINT, timeout=10)

    def __exit__(self, *exc):
        self.stop()


def to_mr(pkt, timeout=3):
    """Sends `pkt` from the CN; what arrives at the mobile router's interface in IPv4-in-IPv4."""
    sn = start_sniffer("nemo-mr", iface="mr0", filter="ip proto 41", lfilter=carries("ipip", ICMPv6EchoRequest), count=1,
                       timeout=timeout)
    send_from("nemo-cn", pkt)
    sn.join()
    return list(sn.results or [])


def remove_runtime_dir(prefix):
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


@unittest.skipUnless(os.geteuid() == 0, "needs root (namespaces, hugepages)")
@unittest.skipUnless(DUMPCAP, "dpdk-dumpcap not installed (Debian package dpdk)")
class CaptureTest(unittest.TestCase):
    def test_dumpcap_holds_the_bu_the_ba_and_forwarded_traffic(self):
        work = tempfile.mkdtemp(prefix="nemo-capture-")
        pcap = os.path.join(work, "access.pcapng")
        try:
            with Hugepages() as huge, Topology():
                eal = f"--huge-dir={huge.dir} --no-pci -l 0-1 --file-prefix={PREFIX} --log-level=lib.eal:error {EAL_PORTS}"
                with HomeAgent(f"--eal.args={eal}", "--capture.enabled=yes") as ha:
                    self.assertIn(f"capture: ready (dpdk-dumpcap --file-prefix={PREFIX} -i PORT)", ha.output())
                    with Dumpcap(PREFIX, "net_af_packet0", pcap) as dc:
                        outer, inner = register("ipip", 41)
                        self.assertIsNotNone(inner, "no BA reached the mobile router while dumpcap ran")
                        # The workers keep forwarding while their ports are captured: CN -> mobile network.
                        mnn = MNP_A + "9"
                        ping = IPv6(src=CN, dst=mnn) / ICMPv6EchoRequest(id=5, seq=1, data=b"nemo-captured")
                        got = []
                        for _ in range(3):  # the first may wait for the care-of address's ARP
                            got = to_mr(ping)
                            if got:
                                break
                        tx_before_stop = ha.stats()["dataplane.tx"]
                        rc = dc.stop()
                        self.assertEqual(rc, 0, f"dpdk-dumpcap exited with {rc}:\n{dc.output()}")
                        self.assertIn("net_af_packet0", dc.output())
                    self.assertTrue(got, "the tunneled echo request did not reach the mobile router during the capture")
                    # ... and after it: the callbacks are gone, the port forwards on.
                    ping.seq = 2
                    after = to_mr(ping)
                    self.assertTrue(after, "no forwarding once dumpcap stopped")
                    self.assertGreater(ha.stats()["dataplane.tx"], tx_before_stop)
                    self.assertEqual(ha.stop(), 0, ha.output())
            self.check_pcapng(pcap, raw(outer[IP]))
        finally:
            remove_runtime_dir(PREFIX)
            shutil.rmtree(work, ignore_errors=True) if not KEEP else print("kept", work)

    def check_pcapng(self, pcap, ba_on_the_wire):
        pkts = rdpcap(pcap)
        bus = [p for p in pkts if p.haslayer(IP) and p[IP].proto == 41 and p.haslayer(MIP6MH_BU)]
        self.assertEqual(len(bus), 1, f"{len(pkts)} packets, {len(bus)} BUs")
        bu = bus[0]
        self.assertEqual((bu[IP].src, bu[IP].dst), (COA, HA4))
        self.assertEqual((bu[IPv6].src, bu[IPv6].dst), (HOA, HA6))
        self.assertEqual(bu[MIP6MH_BU].seq, 41)
        bas = [p for p in pkts if p.haslayer(IP) and p[IP].proto == 41 and p.haslayer(MIP6MH_BA)]
        self.assertEqual(len(bas), 1, f"{len(pkts)} packets, {len(bas)} BAs")
        ba = bas[0]
        self.assertEqual((ba[IP].src, ba[IP].dst), (HA4, COA))
        self.assertEqual((ba[IPv6].src, ba[IPv6].dst), (HA6, HOA))
        self.assertEqual((ba[MIP6MH_BA].seq, ba[MIP6MH_BA].status), (41, 0))
        self.assertEqual(raw(ba[IP]), ba_on_the_wire, "the captured BA is not the one the mobile router received")
        self.assertLess(pkts.index(bu), pkts.index(ba))
        pings = [p for p in pkts if p.haslayer(IP) and p.haslayer(ICMPv6EchoRequest)]
        self.assertTrue(pings and inner_of(pings[0], "ipip")[ICMPv6EchoRequest].data == b"nemo-captured",
                        "the forwarded echo request is not in the capture")
        # tshark (Wireshark's dissectors) reads the same file as a pcapng with both messages.
        # (not the copies inside the MR kernel's ICMP errors: it has no IPv4-in-IPv4 tunnel of its own)
        out = subprocess.run(["tshark", "-r", pcap, "-Y", "mip6.mhtype && !icmp", "-T", "fields", "-e", "mip6.mhtype",
                              "-e", "mip6.bu.seqnr", "-e", "mip6.ba.seqnr", "-e", "mip6.ba.status"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        rows = [line.split("\t") for line in out if line.strip()]
        self.assertEqual(rows, [["5", "41", "", ""], ["6", "", "41", "0"]])

    def test_demo_eal_arguments_leave_nothing_to_attach_to(self):
        # The built-in configuration's --no-shconf --no-huge, with a prefix of this run's own.
        refused = subprocess.run([binary("nemo-ha"), "--check", "--capture.enabled=yes"], capture_output=True, text=True)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("capture.enabled: yes, but eal.args has --no-shconf", refused.stderr)
        # Each option that leaves a secondary nothing to map or attach to is named on its own.
        for eal, why in (("--no-huge -m 256 --no-pci -l 0-1 --vdev=net_null0 --vdev=net_null1", "--no-huge"),
                         ("--in-memory --no-pci -l 0-1 --vdev=net_null0 --vdev=net_null1", "--in-memory")):
            r = subprocess.run([binary("nemo-ha"), "--check", "--capture.enabled=yes", f"--eal.args={eal}",
                                "--access.port=net_null0", "--home.port=net_null1"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(f"capture.enabled: yes, but eal.args has {why}", r.stderr)
        prefix = PREFIX + "-demo"
        eal = f"--no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix={prefix} --log-level=lib.eal:error {EAL_PORTS}"
        try:
            with Topology(), HomeAgent(f"--eal.args={eal}") as ha:
                self.assertIn("capture: unavailable: eal.args has --no-shconf", ha.output())
                dc = subprocess.run(["ip", "netns", "exec", ns_name("nemo-ha"), DUMPCAP, f"--file-prefix={prefix}", "-D"],
                                    capture_output=True, text=True, timeout=20)
                self.assertNotEqual(dc.returncode, 0, dc.stdout + dc.stderr)
                self.assertNotIn("net_af_packet0", dc.stdout)
        finally:
            remove_runtime_dir(prefix)


if __name__ == "__main__":
    unittest.main()
