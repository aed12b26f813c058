#!/usr/bin/python3
"""Writes pcaps for line-rate tests of nemo-ha, and the provisioning file that matches them.

Router i (0-based) has home address 2001:db8:1::<i+1> (as a 32-bit interface identifier), the mobile
network prefix 2001:db8:<0x1000 + i/65536>:<i%65536>::/64 and, for upstream traffic, the IPv4 care-of
address 100.64.0.0 + i (RFC 6598 space). The home agent is 198.51.100.1 / 2001:db8:1::1; the
correspondent is 2001:db8:cccc::1 (behind the home gateway).

    /usr/bin/python3 scripts/gen_traffic_pcaps.py --routers 1000 --packets 4096 --size 64 --out DIR
    (--size imix: 7 x 64, 4 x 570, 1 x 1518 bytes, the simple IMIX)

Writes DIR/down-SIZE.pcap (IPv6 from the CN to hosts in random routers' prefixes), DIR/up-METHOD-SIZE.pcap
for ipip, gre and udp (tunneled from random routers to the CN), DIR/routers.txt (provisioning lines) and,
with --registrations, DIR/bu-METHOD.pcap: one Binding Update per router, to replay once (towards the
access port) so that every router is registered before the traffic runs. Frame sizes are Ethernet
frames without the FCS, as testpmd and pktgen count them. Upstream frames cannot be smaller than their
headers (82 bytes for IPv6 in IPv4): at size 64 they are that minimum.
"""
import argparse
import ipaddress
import os
import random
import sys

from scapy.all import GRE, IP, UDP, Ether, IPv6, PcapWriter, Raw
from scapy.layers.inet6 import MIP6MH_BU, MIP6OptMobNetPrefix

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nemo_scapy import BU_A, BU_H, BU_R, V4_I, V4_R, V4_U, MIP6OptIPv4CoA  # noqa: E402

HA4 = "198.51.100.1"
HA6 = "2001:db8:1::1"
# Off the home prefix: a CN on it would collide with home address ::cc once 204 routers are bound, and
# that traffic then rightly goes into router 203's tunnel (RFC 3963 6.5), not to the core.
CN = "2001:db8:cccc::1"
HA_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"
IMIX = [64] * 7 + [570] * 4 + [1518]


def hoa(i):
    return str(ipaddress.IPv6Address("2001:db8:1::") + i + 1)


def mnp(i):
    return f"2001:db8:{0x1000 + (i >> 16):x}:{i & 0xFFFF:x}::"


def host_in(i, rng):
    return str(ipaddress.IPv6Address(mnp(i)) + rng.randrange(1, 1 << 32))


def peer(i):
    return str(ipaddress.IPv4Address("100.64.0.0") + i)


def padded(pkt, frame_size):
    """`pkt` with UDP payload grown so that the Ethernet frame is `frame_size` bytes (minimum what fits)."""
    room = frame_size - len(pkt)
    return pkt / Raw(b"\x00" * max(room, 0))


def downstream(i, size, rng):
    base = Ether(src=PEER_MAC, dst=HA_MAC) / IPv6(src=CN, dst=host_in(i, rng), hlim=64) / UDP(sport=1024, dport=9)
    return padded(base, size)


def upstream(i, size, method, rng):
    inner = IPv6(src=host_in(i, rng), dst=CN, hlim=64) / UDP(sport=1024, dport=9)
    outer = Ether(src=PEER_MAC, dst=HA_MAC) / IP(src=peer(i), dst=HA4, flags="DF")
    if method == "gre":
        outer = outer / GRE(proto=0x86DD)
    elif method == "udp":
        outer = outer / UDP(sport=5555, dport=4191, chksum=0)
    return padded(outer / inner, size)


def tunnel(method, inner, src):
    outer = Ether(src=PEER_MAC, dst=HA_MAC) / IP(src=src, dst=HA4, flags="DF")
    if method == "gre":
        return outer / GRE(proto=0x86DD) / inner
    if method == "udp":
        return outer / UDP(sport=5555, dport=4191, chksum=0) / inner
    return outer / inner


def registration(i, method):
    flag = {"ipip": V4_I, "gre": V4_R, "udp": V4_U}[method]
    bu = IPv6(src=hoa(i), dst=HA6) / MIP6MH_BU(seq=1, flags=BU_A | BU_H | BU_R, mhtime=0xFFFF, options=[
        MIP6OptIPv4CoA(flags=flag, port=5555, coa=peer(i)), MIP6OptMobNetPrefix(plen=64, prefix=mnp(i))])
    return tunnel(method, bu, peer(i))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--packets", type=int, default=4096)
    ap.add_argument("--size", default="64", help="frame size in bytes (64-1518) or imix")
    ap.add_argument("--out", default="traffic")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--registrations", action="store_true", help="also write bu-METHOD.pcap, one BU per router")
    a = ap.parse_args()
    if a.size != "imix" and not 64 <= int(a.size) <= 1518:
        sys.exit("--size: 64 to 1518, or imix")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    sizes = IMIX if a.size == "imix" else [int(a.size)]
    routers = [rng.randrange(a.routers) for _ in range(a.packets)]

    with PcapWriter(os.path.join(a.out, f"down-{a.size}.pcap"), sync=False) as w:
        for k, i in enumerate(routers):
            w.write(downstream(i, sizes[k % len(sizes)], rng))
    for method in ("ipip", "gre", "udp"):
        with PcapWriter(os.path.join(a.out, f"up-{method}-{a.size}.pcap"), sync=False) as w:
            for k, i in enumerate(routers):
                w.write(upstream(i, sizes[k % len(sizes)], method, rng))
    if a.registrations:
        for method in ("ipip", "gre", "udp"):
            with PcapWriter(os.path.join(a.out, f"bu-{method}.pcap"), sync=False) as w:
                for i in range(a.routers):
                    w.write(registration(i, method))
    with open(os.path.join(a.out, "routers.txt"), "w") as f:
        f.write(f"# {a.routers} mobile routers for the pcaps in this folder (scripts/gen_traffic_pcaps.py)\n")
        for i in range(a.routers):
            f.write(f"{hoa(i)} router prefixes={mnp(i)}/64\n")
    print(f"wrote {a.out}/down-{a.size}.pcap, up-{{ipip,gre,udp}}-{a.size}.pcap ({a.packets} packets each), "
          f"routers.txt ({a.routers} routers)")


if __name__ == "__main__":
    main()
