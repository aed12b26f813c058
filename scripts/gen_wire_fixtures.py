#!/usr/bin/python3
"""Writes tests/fixtures/scapy_packets.txt: packets built by scapy (an implementation nobody here wrote)
for the wire-format unit tests to parse. One line per packet: `name hex`. The values each packet carries
are listed here and asserted by tests/unit/test_scapy_fixtures.cpp.

It also writes the libFuzzer seed corpus, tests/fuzz/seeds/TARGET/NAME: each packet cut at the layer
that fuzz target starts from.

    /usr/bin/python3 scripts/gen_wire_fixtures.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scapy.all import ARP, ESP, GRE, IP, UDP, Dot1Q, Ether, IPv6, raw  # noqa: E402
from scapy.layers.inet import IPOption_RR  # noqa: E402
from scapy.layers.inet6 import (HAO, ICMPv6EchoRequest, ICMPv6HAADReply, ICMPv6HAADRequest,  # noqa: E402
                                ICMPv6MPAdv, ICMPv6MPSol, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                                ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig,
                                ICMPv6ParamProblem, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting, MIP6MH_BA, MIP6MH_BE, MIP6MH_BU, MIP6OptAltCoA,
                                MIP6OptMobNetPrefix, MIP6OptUnknown)
from scapy.layers.ipsec import SecurityAssociation  # noqa: E402

from nemo_scapy import BA_R, BU_A, BU_H, BU_R, V4_I, V4_U, MIP6OptIPv4CoA  # noqa: E402

HOA = "2001:db8:1::100"
HA6 = "2001:db8:1::1"
COA6 = "2001:db8:ffff::5"
HA4 = "192.0.2.1"
COA4 = "198.51.100.10"
NAT4 = "203.0.113.7"


def bu(seq, flags, mhtime, options):
    return MIP6MH_BU(seq=seq, flags=flags, mhtime=mhtime, options=options)


def packets():
    p = {}
    mnps = [MIP6OptMobNetPrefix(plen=48, prefix="2001:db8:aaaa::"),
            MIP6OptMobNetPrefix(plen=64, prefix="2001:db8:bbbb:1::")]
    # BU for an IPv4 CoA, IPv6-in-IPv4 (draft 4.2): A H R, seq 1000, lifetime 150 units (600 s).
    p["bu_v4coa_ipip"] = IP(src=COA4, dst=HA4) / IPv6(src=HOA, dst=HA6) / bu(
        1000, BU_A | BU_H | BU_R, 150, [MIP6OptIPv4CoA(flags=V4_I, port=0, coa=COA4)] + mnps)
    # The same over UDP port 4191 from behind a NAT: outer source is the NAT, option says U, port 5555.
    p["bu_v4coa_udp_nat"] = IP(src=NAT4, dst=HA4) / UDP(sport=40000, dport=4191) / IPv6(src=HOA, dst=HA6) / bu(
        65535, BU_A | BU_H | BU_R, 75, [MIP6OptIPv4CoA(flags=V4_U, port=5555, coa=COA4), mnps[0]])
    # GRE with checksum, key and sequence number carrying a BU.
    p["bu_gre"] = IP(src=COA4, dst=HA4) / GRE(proto=0x86DD, chksum_present=1, key_present=1, seqnum_present=1,
                                             key=0xDEADBEEF, sequence_number=7) / IPv6(src=HOA, dst=HA6) / bu(
        2, BU_A | BU_H | BU_R, 10, [MIP6OptIPv4CoA(flags=0x4, coa=COA4)])
    # Native IPv6 BU from an IPv6 CoA with a Home Address option: MH checksum over HoA -> HA.
    p["bu_native_hao"] = IPv6(src=COA6, dst=HA6) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / bu(
        7, BU_A | BU_H | BU_R, 100, [MIP6OptAltCoA(acoa=COA6), mnps[1]])
    # A BU with an unknown option (type 200) among known ones.
    p["bu_unknown_option"] = IPv6(src=HOA, dst=HA6) / bu(
        9, BU_A | BU_H, 20, [MIP6OptUnknown(otype=200, odata=b"xyz"), mnps[0]])
    # A BU whose checksum is wrong by one.
    good = IPv6(src=HOA, dst=HA6) / bu(11, BU_A | BU_H, 20, [])
    good = IPv6(raw(good))
    good[MIP6MH_BU].cksum ^= 0x0001
    p["bu_bad_checksum"] = good
    # BA through a type 2 routing header: checksum to the HoA (RFC 6275 6.1.1).
    p["ba_rh2"] = IPv6(src=HA6, dst=COA6) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]) / MIP6MH_BA(
        status=0, flags=BA_R, seq=7, mhtime=100)
    # BA 144 over IPv4 echoing the supported flags (I and U).
    p["ba_144"] = IP(src=HA4, dst=COA4) / IPv6(src=HA6, dst=HOA) / MIP6MH_BA(
        status=144, flags=0, seq=1000, mhtime=0, options=[MIP6OptIPv4CoA(flags=V4_I | V4_U, coa=COA4)])
    p["be_status2"] = IPv6(src=HA6, dst=HOA) / MIP6MH_BE(status=2, ha=HOA)
    # DHAAD with R and the draft's I flag (0x4000 = bit 14 of the 15-bit reserved field's top).
    p["dhaad_request"] = IPv6(src=COA6, dst="2001:db8:1::fdff:ffff:ffff:fffe") / ICMPv6HAADRequest(
        id=0x1234, R=1, res=0x4000)
    p["dhaad_reply"] = IPv6(src=HA6, dst=COA6) / ICMPv6HAADReply(
        id=0x1234, R=1, res=0x4000, addresses=[HA6, "2001:db8:1::2", "::ffff:" + HA4])
    p["mps"] = IPv6(src=HOA, dst=HA6) / ICMPv6MPSol(id=0x0102)
    p["mpa"] = IPv6(src=HA6, dst=HOA) / ICMPv6MPAdv(id=0x0102, flags=2) / ICMPv6NDOptPrefixInfo(
        prefixlen=64, L=1, A=1, R=1, validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::")
    p["ns"] = IPv6(src="fe80::2", dst="ff02::1:ff00:100") / ICMPv6ND_NS(tgt=HOA) / ICMPv6NDOptSrcLLAddr(
        lladdr="02:00:00:00:00:02")
    p["na"] = IPv6(src="fe80::1", dst="fe80::2") / ICMPv6ND_NA(R=1, S=1, O=0, tgt=HOA) / ICMPv6NDOptDstLLAddr(
        lladdr="02:00:00:00:00:01")
    inner = IPv6(src="2001:db8:cccc::1", dst="2001:db8:aaaa::1") / (b"\x00" * 1400)
    p["ptb"] = IPv6(src=HA6, dst="2001:db8:cccc::1") / ICMPv6PacketTooBig(mtu=1452) / inner
    p["param_problem"] = IPv6(src=HA6, dst=HOA) / ICMPv6ParamProblem(code=0, ptr=40) / raw(
        IPv6(src=HOA, dst=HA6) / bu(1, BU_A | BU_H, 1, []))
    p["arp_request"] = ARP(op=1, hwsrc="02:00:00:00:00:02", psrc=COA4, hwdst="00:00:00:00:00:00", pdst=HA4)
    p["ether_vlan_ipv6"] = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / Dot1Q(vlan=42, prio=5) / \
        IPv6(src=HOA, dst=HA6, hlim=9) / ICMPv6EchoRequest()
    p["udp4"] = IP(src=COA4, dst=HA4) / UDP(sport=40000, dport=4191) / b"hello nemo"
    p["udp6"] = IPv6(src=HOA, dst=HA6) / UDP(sport=1, dport=2) / b"odd"
    p["ipv4_options"] = IP(src=COA4, dst=HA4, options=[IPOption_RR(routers=["10.0.0.1"])], ttl=17) / \
        IPv6(src=HOA, dst=HA6)
    p["ipv6_ext_chain"] = IPv6(src=HOA, dst=HA6, tc=0xB8, fl=0x12345) / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=5)
    p["ipv6_fragment"] = IPv6(src=HOA, dst=HA6) / IPv6ExtHdrFragment(m=1) / ICMPv6EchoRequest()
    # ESP with NULL encryption: scapy lays out padding and trailer as RFC 4303 2.4 says.
    sa = SecurityAssociation(ESP, spi=0x1001, crypt_algo="NULL", auth_algo="NULL")
    p["esp_null"] = sa.encrypt(IP(src=COA4, dst=HA4) / IPv6(src=HOA, dst=HA6) / b"payload!", seq_num=42)
    return p


def seeds(name, pkt):
    """(target, bytes) pairs: the packet as each fuzz target's entry point sees it."""
    from scapy.layers.inet6 import _ICMPv6, _MobilityHeader
    out = []
    if pkt.haslayer(Ether):
        out.append(("ethernet", raw(pkt)))
    elif pkt.haslayer(ARP):
        out.append(("ethernet", raw(Ether(src="02:00:00:00:00:02") / pkt)))
    if pkt.haslayer(IP):
        out.append(("tunnel", raw(pkt[IP])))
        out.append(("ethernet", raw(Ether() / pkt[IP])))
    if pkt.haslayer(IPv6):
        out.append(("ipv6", raw(pkt[IPv6])))
    for layer in pkt.iterpayloads():
        if isinstance(layer, _MobilityHeader):
            out.append(("mobility", raw(layer)))
            break
        if isinstance(layer, _ICMPv6):
            out.append(("icmpv6", raw(layer)))
            break
    return out


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "tests", "fixtures", "scapy_packets.txt"), "w") as f:
        f.write("# Generated by scripts/gen_wire_fixtures.py with scapy; do not edit.\n")
        for name, pkt in packets().items():
            f.write(f"{name} {raw(pkt).hex()}\n")
            for target, data in seeds(name, pkt):
                d = os.path.join(root, "tests", "fuzz", "seeds", target)
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, name), "wb") as s:
                    s.write(data)


if __name__ == "__main__":
    main()
