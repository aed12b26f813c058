#!/usr/bin/python3
"""Golden send/expect pcap pairs for the worker (tests/dpdk/test_golden.cpp), built with scapy from the
specifications, not from nemo-ha's code: what a home agent must send for what it receives.

One binding per case: home address HOA, mobile network prefix MNP, registered over the case's method from
the IPv4 care-of address COA (UDP port MR_PORT) or, for ip6ip6, the IPv6 care-of address COA6. Both ports
of the worker are the same link: frames come from the gateway's MAC to the HA's, and leave to the gateway.

Rules checked (RFC 2473, RFC 6040 normal mode, NOTES.md): the inner hop limit drops by one; the outer
IPv4 header has DF set, Identification 0 (RFC 6864), TTL 64, and the inner traffic class as its TOS; the
outer IPv6 header (ip6ip6) hop limit 64 with the inner traffic class; GRE carries 0x86DD with no options;
UDP goes from port 4191 to the router's with checksum 0; upstream the tunnel is removed and the inner
packet forwarded only when it came from the binding's care-of address and its source is the home address
or inside the prefix; anything else (no binding, spoofed inner or outer source) is dropped.

    /usr/bin/python3 scripts/gen_golden_pcaps.py [OUTDIR]

Without OUTDIR it writes tests/fixtures/golden and the worker's fuzz seeds (tests/fuzz/seeds/worker);
with one, both go there (the test command regenerates into a temporary directory and compares).
"""
import os
import sys

from scapy.all import GRE, IP, UDP, Ether, IPv6, ICMPv6EchoRequest, Raw, fragment, wrpcap

# The test scenario's address plan (tests/common/addresses.hpp), plus the link's MACs and gateway.
HA_MAC, GW_MAC = "02:00:00:00:00:01", "02:00:00:00:00:fe"
HA4, COA, MR_PORT = "192.0.2.1", "198.51.100.10", 5555
HA6, COA6 = "2001:db8:1::1", "2001:db8:ffff::5"
HOA, HOST, CN = "2001:db8:1::100", "2001:db8:aaaa::5", "2001:db8:cccc::1"  # HOST: in the MNP 2001:db8:aaaa::/48
NOT_BOUND, SPOOFED = "2001:db8:8888::1", "2001:db8:9999::1"


def to_ha(pkt):
    return Ether(dst=HA_MAC, src=GW_MAC) / pkt


def from_ha(pkt):
    return Ether(dst=GW_MAC, src=HA_MAC) / pkt


def forwarded(inner):
    """The inner packet as the HA forwards it: one hop fewer."""
    out = inner.copy()
    out.hlim -= 1
    return out


def tunnel(method, inner, outbound=True, outer_src=None):
    """The outer headers of `method` around `inner` (HA -> MR when outbound, MR -> HA otherwise)."""
    tc = inner.tc
    if method == "ip6ip6":
        src, dst = (HA6, COA6) if outbound else (outer_src or COA6, HA6)
        return IPv6(src=src, dst=dst, hlim=64, tc=tc, nh=41) / inner
    src, dst = (HA4, COA) if outbound else (outer_src or COA, HA4)
    ip = IP(src=src, dst=dst, flags="DF", id=0, ttl=64, tos=tc) if outbound else IP(src=src, dst=dst, ttl=60)
    if method == "ipip":
        return ip / inner
    if method == "gre":
        return ip / GRE(proto=0x86DD) / inner
    sport, dport = (4191, MR_PORT) if outbound else (MR_PORT, 4191)
    udp = UDP(sport=sport, dport=dport, chksum=0) if outbound else UDP(sport=sport, dport=dport)
    return ip / udp / inner


def payload(n, tag):
    return Raw(bytes((tag + i) & 0xFF for i in range(n)))


def downstream(method):
    pkts = [
        IPv6(src=CN, dst=HOST, hlim=64) / ICMPv6EchoRequest(id=1, seq=1) / payload(24, 1),
        IPv6(src=CN, dst=HOST, hlim=9, tc=0xB9) / UDP(sport=1000, dport=2000) / payload(100, 2),  # EF, ECT(1)
        IPv6(src=CN, dst=HOA, hlim=64, tc=0x03) / UDP(sport=1001, dport=2001) / payload(7, 3),  # CE
    ]
    dropped = [
        IPv6(src=CN, dst=NOT_BOUND, hlim=64) / UDP(sport=1, dport=2) / payload(8, 4),  # no binding
    ]
    send = [to_ha(p) for p in pkts[:2] + dropped + pkts[2:]]
    expect = [from_ha(tunnel(method, forwarded(p))) for p in pkts]
    return send, expect


def upstream(method):
    good = [
        IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=3000, dport=4000) / payload(40, 6),
        IPv6(src=HOA, dst=CN, hlim=33, tc=0x28) / ICMPv6EchoRequest(id=2, seq=2) / payload(11, 7),
    ]
    wrong_outer = "2001:db8:ffff::66" if method == "ip6ip6" else "198.51.100.99"
    bad = [
        tunnel(method, IPv6(src=SPOOFED, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 8), outbound=False),
        tunnel(method, IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 9), outbound=False,
               outer_src=wrong_outer),
    ]
    send = [to_ha(tunnel(method, good[0], outbound=False))] + [to_ha(b) for b in bad] + \
           [to_ha(tunnel(method, good[1], outbound=False))]
    expect = [from_ha(forwarded(p)) for p in good]
    return send, expect


def upstream_fragmented(method):
    """Outer IPv4 fragments (RFC 791): a train in reverse order is reassembled and its inner packet
    forwarded; a train missing a fragment never is; an unfragmented packet after them still goes."""
    big = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=5000, dport=6000) / payload(1300, 10)
    small = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=5001, dport=6001) / payload(30, 11)
    whole = tunnel(method, big, outbound=False)
    whole[IP].id = 0x1234
    train = fragment(IP(bytes(whole)), fragsize=512)
    assert len(train) == 3
    lost = tunnel(method, big, outbound=False)
    lost[IP].id = 0x4321
    incomplete = fragment(IP(bytes(lost)), fragsize=512)
    send = [to_ha(f) for f in reversed(train)] + [to_ha(incomplete[0]), to_ha(incomplete[2])] + \
           [to_ha(tunnel(method, small, outbound=False))]
    expect = [from_ha(forwarded(big)), from_ha(forwarded(small))]
    return send, expect


def write_pcap(path, frames):
    """Frames rebuilt from bytes (every length and checksum scapy's), with fixed timestamps: the files
    come out the same on every run."""
    pkts = []
    for i, p in enumerate(frames):
        e = Ether(bytes(p))
        e.time = i
        pkts.append(e)
    wrpcap(path, pkts)


def write_seed(path, frames):
    """A seed for tests/fuzz/fuzz_worker.cpp: each frame as [length, 2 bytes big-endian][frame]."""
    with open(path, "wb") as f:
        for p in frames:
            b = bytes(p)
            f.write(len(b).to_bytes(2, "big") + b)


def main():
    here = os.path.dirname(__file__)
    if len(sys.argv) > 1:
        out = seeds = sys.argv[1]
    else:
        out = os.path.join(here, "..", "tests", "fixtures", "golden")
        seeds = os.path.join(here, "..", "tests", "fuzz", "seeds", "worker")
    os.makedirs(out, exist_ok=True)
    os.makedirs(seeds, exist_ok=True)
    for method in ("ipip", "gre", "udp", "ip6ip6"):
        for direction, build in (("down", downstream), ("up", upstream)):
            send, expect = build(method)
            write_pcap(os.path.join(out, f"{direction}-{method}-send.pcap"), send)
            write_seed(os.path.join(seeds, f"{direction}-{method}"), send)
            write_pcap(os.path.join(out, f"{direction}-{method}-expect.pcap"), expect)
    for method in ("ipip", "udp"):
        send, expect = upstream_fragmented(method)
        write_pcap(os.path.join(out, f"up-{method}-fragments-send.pcap"), send)
        write_seed(os.path.join(seeds, f"up-{method}-fragments"), send)
        write_pcap(os.path.join(out, f"up-{method}-fragments-expect.pcap"), expect)


if __name__ == "__main__":
    main()
