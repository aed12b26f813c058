#!/usr/bin/python3
"""Packets that lib/ builds, judged by implementations nobody here wrote: scapy reads them field by field
and recomputes every checksum; tshark dissects them and its field values are compared.

    check_emitted.py WIRE_EMIT_BINARY

Exit status 0 when every check holds; each failed check is printed.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))

from scapy.all import ARP, ESP, GRE, IP, UDP, Ether, IPv6, raw, rdpcap  # noqa: E402
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6HAADReply, ICMPv6MPAdv, ICMPv6ND_NA,  # noqa: E402
                                ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo, ICMPv6PacketTooBig,
                                ICMPv6ParamProblem, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, MIP6MH_BA,
                                MIP6MH_BE, MIP6MH_BU, MIP6OptAltCoA, MIP6OptMobNetPrefix, HAO)
from scapy.layers.ipsec import SecurityAssociation  # noqa: E402

from nemo_scapy import BA_R, BU_A, BU_H, BU_R, V4_I, V4_U, MIP6OptIPv4CoA  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def same_checksum(pkt, layer, field):
    """scapy recomputes `field` of `layer` from scratch; it must equal what we wrote."""
    ours = getattr(pkt[layer], field)
    clone = pkt.copy()
    setattr(clone[layer], field, None)
    theirs = getattr(Ether(raw(clone))[layer], field)
    check(ours == theirs, f"{layer.__name__}.{field}: ours {ours:#06x}, scapy {theirs:#06x}")


def options(mh, cls):
    return [o for o in mh.options if isinstance(o, cls)]


def scapy_checks(pkts):
    check(len(pkts) == 15, f"expected 15 packets, got {len(pkts)}")

    # 1. BA accepting an IPv4 CoA.
    p = pkts[0]
    same_checksum(p, IP, "chksum")
    same_checksum(p, MIP6MH_BA, "cksum")
    ba = p[MIP6MH_BA]
    check(ba.status == 0 and ba.seq == 1000 and ba.mhtime == 150, f"BA 1 fields {ba.status} {ba.seq} {ba.mhtime}")
    check(int(ba.flags) == BA_R, f"BA 1 flags {ba.flags}")
    v4 = options(ba, MIP6OptIPv4CoA)
    check(len(v4) == 1 and int(v4[0].flags) == V4_I and v4[0].coa == "198.51.100.10", "BA 1 IPv4 CoA option")
    check(p[IP].src == "192.0.2.1" and p[IP].dst == "198.51.100.10" and p[IP].proto == 41, "BA 1 outer IPv4")
    check(p[IP].flags.DF, "BA 1 DF")
    check((len(raw(ba)) % 8) == 0, "BA 1 length multiple of 8")

    # 2. BA 144 with I and U echoed.
    p = pkts[1]
    same_checksum(p, MIP6MH_BA, "cksum")
    ba = p[MIP6MH_BA]
    check(ba.status == 144 and int(ba.flags) == 0, "BA 2 status 144, R clear")
    v4 = options(ba, MIP6OptIPv4CoA)
    check(len(v4) == 1 and int(v4[0].flags) == V4_I | V4_U, "BA 2 supported flags I|U")

    # 3. BA through a type 2 routing header: scapy's checksum uses the final destination (HoA).
    p = pkts[2]
    rh = p[IPv6ExtHdrRouting]
    check(rh.type == 2 and rh.segleft == 1 and rh.addresses == ["2001:db8:1::100"], "BA 3 type 2 routing header")
    same_checksum(p, MIP6MH_BA, "cksum")
    check(p[MIP6MH_BA].seq == 7, "BA 3 seq")

    # 4. BU over IPv4 with options.
    p = pkts[3]
    same_checksum(p, MIP6MH_BU, "cksum")
    bu = p[MIP6MH_BU]
    check(bu.seq == 4242 and int(bu.flags) == BU_A | BU_H | BU_R and bu.mhtime == 100, "BU 4 fixed fields")
    v4 = options(bu, MIP6OptIPv4CoA)
    check(len(v4) == 1 and int(v4[0].flags) == V4_U and v4[0].port == 5555, "BU 4 IPv4 CoA option")
    mnps = [(o.prefix, o.plen) for o in options(bu, MIP6OptMobNetPrefix)]
    check(mnps == [("2001:db8:aaaa::", 48), ("2001:db8:bbbb:1::", 64)], f"BU 4 prefixes {mnps}")

    # 5. BU with a Home Address option: scapy's checksum uses the HoA as source.
    p = pkts[4]
    check(p[IPv6ExtHdrDestOpt].options[-1].__class__ is HAO and p[HAO].hoa == "2001:db8:1::100", "BU 5 HAO")
    # scapy takes the HoA for the pseudo-header only when the HAO is the header's sole listed option, so
    # let its autopad lay the header out again: the bytes must come out identical, padding included.
    ours_dest = raw(p[IPv6ExtHdrDestOpt])[:24]
    p[IPv6ExtHdrDestOpt].options = [p[HAO].copy()]
    check(raw(p[IPv6ExtHdrDestOpt])[:24] == ours_dest, "BU 5 destination options laid out as scapy pads them")
    same_checksum(p, MIP6MH_BU, "cksum")
    acoa = options(p[MIP6MH_BU], MIP6OptAltCoA)
    check(len(acoa) == 1 and acoa[0].acoa == "2001:db8:ffff::5", "BU 5 alternate CoA")

    # 6. Binding Error.
    p = pkts[5]
    same_checksum(p, MIP6MH_BE, "cksum")
    check(p[MIP6MH_BE].status == 2 and p[MIP6MH_BE].ha == "2001:db8:1::100", "BE 6 fields")

    # 7. DHAAD Reply.
    p = pkts[6]
    same_checksum(p, ICMPv6HAADReply, "cksum")
    r = p[ICMPv6HAADReply]
    check(r.id == 0x1234 and r.R == 1 and r.res == 0x4000, f"DHAAD 7 id/flags {r.id:#x} {r.R} {r.res:#x}")
    check(r.addresses == ["2001:db8:1::1", "2001:db8:1::2", "::ffff:192.0.2.1"], f"DHAAD 7 list {r.addresses}")

    # 8. MPA.
    p = pkts[7]
    same_checksum(p, ICMPv6MPAdv, "cksum")
    check(p[ICMPv6MPAdv].id == 0x0102 and p[ICMPv6MPAdv].flags == 2, "MPA 8 id/M")
    pi = p[ICMPv6NDOptPrefixInfo]
    check(pi.prefixlen == 64 and pi.L == 1 and pi.A == 1 and pi.R == 0 and pi.validlifetime == 86400
          and pi.preferredlifetime == 14400 and pi.prefix == "2001:db8:1::", "MPA 8 prefix information")

    # 9. NA.
    p = pkts[8]
    same_checksum(p, ICMPv6ND_NA, "cksum")
    na = p[ICMPv6ND_NA]
    check(na.R == 0 and na.S == 1 and na.O == 1 and na.tgt == "2001:db8:1::100", "NA 9 flags/target")
    check(p[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:01", "NA 9 target lladdr")

    # 10. PTB within the minimum MTU.
    p = pkts[9]
    same_checksum(p, ICMPv6PacketTooBig, "cksum")
    check(p[ICMPv6PacketTooBig].mtu == 1452, "PTB 10 mtu")
    check(len(raw(p[IPv6])) == 1280, f"PTB 10 size {len(raw(p[IPv6]))}")

    # 11. UDP tunnel.
    p = pkts[10]
    same_checksum(p, UDP, "chksum")
    check(p[UDP].sport == 4191 and p[UDP].dport == 5555, "UDP 11 ports")
    inner = IPv6(raw(p[UDP].payload))
    check(inner.src == "2001:db8:cccc::1" and inner.haslayer(ICMPv6EchoRequest), "UDP 11 inner IPv6")

    # 12. GRE.
    p = pkts[11]
    same_checksum(p, GRE, "chksum")
    g = p[GRE]
    check(g.proto == 0x86DD and g.key == 0xDEADBEEF and g.sequence_number == 7, "GRE 12 fields")
    check(g.payload.haslayer(ICMPv6EchoRequest), "GRE 12 inner")

    # 13. ESP (NULL): scapy decrypts it and finds the inner packet and next header.
    p = pkts[12]
    sa = SecurityAssociation(ESP, spi=0x1001, crypt_algo="NULL", auth_algo="NULL")
    check(p[ESP].spi == 0x1001 and p[ESP].seq == 42, "ESP 13 header")
    clear = sa.decrypt(p[IP].copy())
    check(clear.proto == 41 and clear.haslayer(ICMPv6EchoRequest), "ESP 13 decrypted inner")

    # 14. ARP reply.
    a = pkts[13][ARP]
    check(a.op == 2 and a.psrc == "192.0.2.1" and a.hwsrc == "02:00:00:00:00:01" and a.pdst == "198.51.100.10",
          "ARP 14 reply")

    # 15. Parameter Problem.
    p = pkts[14]
    same_checksum(p, ICMPv6ParamProblem, "cksum")
    check(p[ICMPv6ParamProblem].code == 0 and p[ICMPv6ParamProblem].ptr == 40, "PP 15 code/pointer")


def tshark_fields(pcap, fields, extra=()):
    cmd = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
           "-E", "aggregator=,", *extra]
    for f in fields:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        check(False, f"tshark failed: {run.stderr.strip()}")
        return []
    out = run.stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines()]


def tshark_checks(pcap):
    rows = tshark_fields(pcap, ["frame.number", "mip6.mhtype", "mip6.ba.status", "mip6.ba.seqnr",
                                "mip6.nemo.ba.r_flag", "mip6.bu.seqnr", "mip6.nemo.bu.r_flag",
                                "mip6.nemo.mnp.mnp", "mip6.acoa.acoa", "ipv6.opt.mipv6.home_address",
                                "icmpv6.mip6.home_agent_address", "icmpv6.opt.prefix", "icmpv6.mtu",
                                "icmpv6.pointer", "icmpv6.checksum.status", "ip.checksum.status",
                                "udp.checksum.status", "gre.key", "gre.checksum.status", "esp.spi",
                                "arp.opcode"],
                         extra=["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                                "-d", "udp.port==5555,ipv6"])
    check(len(rows) == 15, f"tshark saw {len(rows)} frames")
    if len(rows) != 15:
        return
    r = rows
    check(r[0]["mip6.mhtype"] == "6" and r[0]["mip6.ba.status"] == "0" and r[0]["mip6.ba.seqnr"] == "1000",
          f"tshark BA 1 {r[0]}")
    check(r[0]["mip6.nemo.ba.r_flag"] in ("1", "True"), f"tshark BA 1 R flag {r[0]['mip6.nemo.ba.r_flag']}")
    check(r[0]["ip.checksum.status"] == "1", f"tshark IPv4 checksum status {r[0]['ip.checksum.status']}")
    check(r[1]["mip6.ba.status"] == "144", f"tshark BA 2 status {r[1]['mip6.ba.status']}")
    check(r[1]["mip6.nemo.ba.r_flag"] in ("0", "False"), "tshark BA 2 R flag clear")
    check(r[2]["mip6.ba.seqnr"] == "7", "tshark BA 3 seq")
    check(r[3]["mip6.bu.seqnr"] == "4242" and r[3]["mip6.nemo.bu.r_flag"] in ("1", "True"), f"tshark BU 4 {r[3]}")
    check(r[3]["mip6.nemo.mnp.mnp"] == "2001:db8:aaaa::,2001:db8:bbbb:1::", f"tshark BU 4 MNPs {r[3]['mip6.nemo.mnp.mnp']}")
    check(r[4]["mip6.acoa.acoa"] == "2001:db8:ffff::5", f"tshark BU 5 alt CoA {r[4]['mip6.acoa.acoa']}")
    check(r[4]["ipv6.opt.mipv6.home_address"] == "2001:db8:1::100", f"tshark BU 5 HAO {r[4]['ipv6.opt.mipv6.home_address']}")
    check(r[5]["mip6.mhtype"] == "7", "tshark BE 6 type")
    check(r[6]["icmpv6.mip6.home_agent_address"] == "2001:db8:1::1,2001:db8:1::2,::ffff:192.0.2.1",
          f"tshark DHAAD 7 {r[6]['icmpv6.mip6.home_agent_address']}")
    check(r[7]["icmpv6.opt.prefix"] == "2001:db8:1::", "tshark MPA 8 prefix")
    for i in (6, 7, 8, 9, 14):
        check(r[i]["icmpv6.checksum.status"] == "1", f"tshark ICMPv6 checksum frame {i + 1}: {r[i]['icmpv6.checksum.status']}")
    check(r[9]["icmpv6.mtu"] == "1452", "tshark PTB 10 mtu")
    check(r[10]["udp.checksum.status"] == "1", f"tshark UDP 11 checksum {r[10]['udp.checksum.status']}")
    check(r[11]["gre.key"] == "0xdeadbeef" and r[11]["gre.checksum.status"] == "1", f"tshark GRE 12 {r[11]}")
    check(r[12]["esp.spi"] in ("0x00001001", "4097"), f"tshark ESP 13 spi {r[12]['esp.spi']}")
    check(r[13]["arp.opcode"] == "2", "tshark ARP 14 opcode")
    check(r[14]["icmpv6.pointer"] == "40", "tshark PP 15 pointer")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "emitted.pcap")
        subprocess.run([sys.argv[1], pcap], check=True)
        scapy_checks(rdpcap(pcap))
        tshark_checks(pcap)
    for f in failures:
        print("FAIL:", f)
    print("emitted packets:", "all checks hold" if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
