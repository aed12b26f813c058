#!/usr/bin/python3
"""Golden send/expect pcap pairs for the worker (tests/dpdk/test_golden.cpp), built with scapy from the
specifications, not from nemo-ha's code: what a home agent must send for what it receives, and which of
its counters each frame must move.

One binding per case: home address HOA, mobile network prefix MNP, registered over the case's method from
the IPv4 care-of address COA (UDP port MR_PORT) or, for ip6ip6, the IPv6 care-of address COA6 (the arp-nd
pair binds a mobile host instead: its home address only, defended on the home link). Both ports of the
worker are the same link: frames come from the gateway's MAC to the HA's, and leave to the gateway (or, for
replies, to the frame's sender).

Rules checked (RFC 2473, RFC 6040 normal mode, NOTES.md): the inner hop limit drops by one; the outer
IPv4 header has DF set, Identification 0 (RFC 6864), TTL 64, and the inner traffic class as its TOS; the
outer IPv6 header (ip6ip6) hop limit 64 with the inner traffic class; GRE carries 0x86DD with no options;
UDP goes from port 4191 to the router's with checksum 0; upstream the tunnel is removed and the inner
packet forwarded only when it came from the binding's care-of address and its source is the home address
or inside the prefix; anything else (no binding, spoofed inner or outer source) is dropped. The error
paths: ICMPv6 Time Exceeded (RFC 4443 3.3) and Packet Too Big (RFC 4443 3.2, RFC 8201) from the HA's IPv6
address, hop limit 64, carrying as much of the invoking packet as fits the IPv6 minimum MTU, never about
what RFC 4443 2.4 (e) exempts; ARP replies (RFC 826) and Neighbor Advertisements (RFC 4861 7.2.4, proxied
per RFC 6275 10.4.1); ESP tunnel mode (RFC 4303) with AES-CBC (RFC 3602) and HMAC-SHA-256-128 (RFC 4868),
its anti-replay window (3.4.3), ICV check and dummy packets (2.6).

Each pair also has <case>-counters.txt: `name value` lines (`#` starts a comment) with every counter the
replay must leave non-zero, named as `show stats` names them (dp_counter_name; drop_<drop_reason_name>;
encap_<method>, decap_<method>) and, per SA, sa.0x<spi>.<sa_counter_name>. Every counter not listed must be
zero: a frame dropped for another reason than the pair says fails the test even if nothing is sent.

    /usr/bin/python3 scripts/gen_golden_pcaps.py [OUTDIR]

Without OUTDIR it writes tests/fixtures/golden and the worker's fuzz seeds (tests/fuzz/seeds/worker);
with one, both go there (the test command regenerates into a temporary directory and compares).
"""
import ipaddress
import os
import sys
from collections import OrderedDict

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scapy.all import (ARP, ESP, GRE, IP, UDP, Ether, ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6ND_NA,
                       ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig,
                       ICMPv6TimeExceeded, IPv6, Padding, Raw, fragment, raw, wrpcap)
from scapy.layers.ipsec import SecurityAssociation, _ESPPlain

# The test scenario's address plan (tests/common/addresses.hpp), plus the link's MACs and gateway.
HA_MAC, GW_MAC = "02:00:00:00:00:01", "02:00:00:00:00:fe"
OTHER_MAC = "02:00:00:00:00:cc"  # another node on the link, not the gateway
HA4, COA, MR_PORT = "192.0.2.1", "198.51.100.10", 5555
GW4, OTHER4 = "192.0.2.254", "192.0.2.77"
HA6, COA6, GW6 = "2001:db8:1::1", "2001:db8:ffff::5", "2001:db8:1::fe"
HOA, HOST, CN = "2001:db8:1::100", "2001:db8:aaaa::5", "2001:db8:cccc::1"  # HOST: in the MNP 2001:db8:aaaa::/48
NOT_BOUND, SPOOFED = "2001:db8:8888::1", "2001:db8:9999::1"
HOME_UNBOUND = "2001:db8:1::200"  # on the home link, no binding
WRONG_COA, WRONG_COA6 = "198.51.100.99", "2001:db8:ffff::66"

# The SAs the rig installs for the ESP pairs (tests/dpdk/test_golden.cpp has the same): hand-keyed
# aes-cbc-128-hmac-sha256, one inbound (the router seals with it), one outbound (the HA seals with it).
SPI_IN, SPI_OUT, SPI_UNKNOWN = 0x1001, 0x2001, 0x9999
ENC_IN, AUTH_IN = bytes(range(0x10, 0x20)), bytes(range(0x20, 0x40))
ENC_OUT, AUTH_OUT = bytes(range(0x50, 0x60)), bytes(range(0x60, 0x80))

IPV6_MIN_MTU = 1280
PORT_MTU = 1500  # the rig's ports (PortSide::mtu)
OVERHEAD = {"ipip": 20, "gre": 24, "udp": 28, "ip6ip6": 40}

# Where and when the worker queues what it sends (Worker::queue_tx, Worker::flush, Worker::handle_burst):
# every frame goes into the TX buffer of the access side (IPv4 tunnels, and replies and errors to frames
# received on the access port: side_of(m->port), which is the access side when access and home are the
# same port, as in the rig) or of the home side (IPv6-in-IPv6 tunnels, forwarded upstream packets). A
# burst is one poll; at its end the access buffer is sent first, then the home buffer. Within a buffer,
# frames are in the order the worker queued them: ARP and NA replies while it classifies the burst, then
# the downstream packets (ESP ones sealed together at the end of that step), then the upstream ones (ESP
# sealed at the end again). Every send pcap fits one burst (32 frames).
ACCESS, HOME = 0, 1
REPLY, DOWN, DOWN_SEAL, UP, UP_SEAL = range(5)
BURST = 32


class Pair:
    """A send pcap, what the worker sends for it, and the counters it moves."""

    def __init__(self):
        self.send = []
        self.out = []  # (queue, step, frame)
        self.counters = OrderedDict()

    def rx(self, frame):
        self.send.append(frame)

    def tx(self, queue, step, frame):
        self.out.append((queue, step, frame))

    def count(self, name, n=1):
        self.counters[name] = self.counters.get(name, 0) + n

    def expect(self):
        return [f for _, _, f in sorted(self.out, key=lambda o: (o[0], o[1]))]  # sorted() is stable

    def counter_lines(self):
        assert len(self.send) <= BURST, "one burst per pair"
        c = OrderedDict([("rx", len(self.send)), ("tx", len(self.out))])
        for k, v in self.counters.items():
            c[k] = c.get(k, 0) + v
        return [f"{k} {v}" for k, v in c.items() if v]


def to_ha(pkt, src=GW_MAC, dst=HA_MAC):
    return Ether(dst=dst, src=src) / pkt


def from_ha(pkt, dst=GW_MAC):
    return Ether(dst=dst, src=HA_MAC) / pkt


def forwarded(inner):
    """The inner packet as the HA forwards it: one hop fewer."""
    out = inner.copy()
    out.hlim -= 1
    return out


def tunnel(method, inner, outbound=True, outer_src=None, sport=MR_PORT):
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
    sport, dport = (4191, MR_PORT) if outbound else (sport, 4191)
    udp = UDP(sport=sport, dport=dport, chksum=0) if outbound else UDP(sport=sport, dport=dport)
    return ip / udp / inner


def tunnel_queue(method):
    return HOME if method == "ip6ip6" else ACCESS


def payload(n, tag):
    return Raw(bytes((tag + i) & 0xFF for i in range(n)))


def sized(src, dst, total, tag, hlim=64):
    """An IPv6/UDP packet of `total` bytes."""
    return IPv6(src=src, dst=dst, hlim=hlim) / UDP(sport=7000 + tag, dport=8000) / payload(total - 48, tag)


def icmp_error(invoking, mtu=None):
    """Time Exceeded code 0 (RFC 4443 3.3) or, with `mtu`, Packet Too Big (3.2) about `invoking`, from the
    HA to its source: as much of the invoking packet as fits without the error exceeding the IPv6 minimum
    MTU (2.4 (c))."""
    b = raw(invoking)
    err = ICMPv6PacketTooBig(mtu=mtu) if mtu is not None else ICMPv6TimeExceeded(code=0)
    return IPv6(src=HA6, dst=IPv6(b).src, hlim=64) / err / Raw(b[:IPV6_MIN_MTU - 40 - 8])


def down_forward(p, method, inner, frame_src=GW_MAC):
    p.rx(to_ha(inner, src=frame_src))
    p.tx(tunnel_queue(method), DOWN, from_ha(tunnel(method, forwarded(inner))))
    p.count(f"encap_{method_counter(method)}")


def up_forward(p, method, inner):
    p.rx(to_ha(tunnel(method, inner, outbound=False)))
    p.tx(HOME, UP, from_ha(forwarded(inner)))
    p.count(f"decap_{method_counter(method)}")


def method_counter(method):
    return "ipv6" if method == "ip6ip6" else method.replace("-", "_")


# ---- the forwarding pairs ----

def downstream(method):
    p = Pair()
    down_forward(p, method, IPv6(src=CN, dst=HOST, hlim=64) / ICMPv6EchoRequest(id=1, seq=1) / payload(24, 1))
    ef = IPv6(src=CN, dst=HOST, hlim=9, tc=0xB9) / UDP(sport=1000, dport=2000) / payload(100, 2)  # EF, ECT(1)
    down_forward(p, method, ef)
    p.rx(to_ha(IPv6(src=CN, dst=NOT_BOUND, hlim=64) / UDP(sport=1, dport=2) / payload(8, 4)))
    p.count("no_binding")
    down_forward(p, method, IPv6(src=CN, dst=HOA, hlim=64, tc=0x03) / UDP(sport=1001, dport=2001) / payload(7, 3))  # CE
    return p


def wrong_outer(method):
    return WRONG_COA6 if method == "ip6ip6" else WRONG_COA


def upstream(method):
    p = Pair()
    up_forward(p, method, IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=3000, dport=4000) / payload(40, 6))
    p.rx(to_ha(tunnel(method, IPv6(src=SPOOFED, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 8), outbound=False)))
    p.rx(to_ha(tunnel(method, IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 9), outbound=False,
                      outer_src=wrong_outer(method))))
    p.count("spoofed", 2)
    up_forward(p, method, IPv6(src=HOA, dst=CN, hlim=33, tc=0x28) / ICMPv6EchoRequest(id=2, seq=2) / payload(11, 7))
    return p


def upstream_fragmented(method):
    """Outer IPv4 fragments (RFC 791): a train in reverse order is reassembled and its inner packet
    forwarded; a train missing a fragment never is (it waits in the reassembly table: nothing is dropped
    before its timeout); an unfragmented packet after them still goes."""
    p = Pair()
    big = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=5000, dport=6000) / payload(1300, 10)
    small = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=5001, dport=6001) / payload(30, 11)
    whole = tunnel(method, big, outbound=False)
    whole[IP].id = 0x1234
    train = fragment(IP(bytes(whole)), fragsize=512)
    assert len(train) == 3
    lost = tunnel(method, big, outbound=False)
    lost[IP].id = 0x4321
    incomplete = fragment(IP(bytes(lost)), fragsize=512)
    for f in list(reversed(train)) + [incomplete[0], incomplete[2]]:
        p.rx(to_ha(f))
    p.tx(HOME, UP, from_ha(forwarded(big)))
    p.count("reassembled")
    p.count(f"decap_{method}")
    up_forward(p, method, small)
    return p


def upstream_spoofed(method):
    """The anti-spoofing check (NOTES.md; RFC 3963 6.1's tunnel, draft 4.4): a decapsulated packet is
    forwarded only when its source is the binding's home address or inside its prefix AND it came through
    the binding's own tunnel: same method, from the care-of address (and, for U, from the router's port)."""
    p = Pair()
    up_forward(p, method, IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=3100, dport=4100) / payload(20, 0x20))
    inner = lambda src, tag: IPv6(src=src, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(16, tag)
    spoofs = [
        tunnel(method, inner(SPOOFED, 0x21), outbound=False),       # a source no binding has
        tunnel(method, inner(HOME_UNBOUND, 0x22), outbound=False),  # on the home link, but not registered
        tunnel(method, inner(CN, 0x23), outbound=False),            # a correspondent's address
        tunnel(method, inner(HOST, 0x24), outbound=False, outer_src=wrong_outer(method)),  # not from the CoA
        # the right CoA and inner source, but another method than the binding's
        tunnel({"ipip": "gre", "gre": "udp", "udp": "ipip", "ip6ip6": "ipip"}[method], inner(HOA, 0x25), outbound=False),
    ]
    if method == "udp":
        spoofs.append(tunnel(method, inner(HOST, 0x26), outbound=False, sport=MR_PORT + 1))  # not the router's port
    if method == "ip6ip6":
        spoofs.append(tunnel("ip6ip6", inner(HOST, 0x27), outbound=False, outer_src=COA6[:-1] + "6"))
    for s in spoofs:
        p.rx(to_ha(s))
    p.count("spoofed", len(spoofs))
    up_forward(p, method, IPv6(src=HOA, dst=CN, hlim=64) / UDP(sport=3101, dport=4101) / payload(20, 0x28))
    return p


# ---- Time Exceeded (RFC 4443 3.3) ----

def downstream_time_exceeded(method):
    """A packet for a bound host whose hop limit runs out here (1 on arrival, or 0) is discarded and a Time
    Exceeded goes back to its sender: out of the port it came in on, to the frame's sender. Not about an
    ICMPv6 error (2.4 (e.1)) nor about a frame sent to a link-layer multicast or broadcast address (2.4 (e.4),
    (e.5)). A hop
    limit of 2 lasts the hop. The errors are queued on the access side (the port the packets came in on):
    for ip6ip6 they leave before the tunnel frames."""
    p = Pair()
    expiring = IPv6(src=CN, dst=HOST, hlim=1) / UDP(sport=1100, dport=2100) / payload(30, 0x30)
    p.rx(to_ha(expiring))
    p.tx(ACCESS, DOWN, from_ha(icmp_error(expiring)))
    down_forward(p, method, IPv6(src=CN, dst=HOA, hlim=2) / UDP(sport=1101, dport=2101) / payload(30, 0x31))
    zero = IPv6(src=CN, dst=HOA, hlim=0) / ICMPv6EchoRequest(id=3, seq=3) / payload(10, 0x32)
    p.rx(to_ha(zero, src=OTHER_MAC))  # from another router of the link: the error goes to it
    p.tx(ACCESS, DOWN, from_ha(icmp_error(zero), dst=OTHER_MAC))
    p.count("te_sent", 2)
    error = IPv6(src=CN, dst=HOST, hlim=1) / ICMPv6DestUnreach(code=1) / payload(48, 0x33)
    p.rx(to_ha(error))
    p.rx(to_ha(IPv6(src=CN, dst=HOST, hlim=1) / UDP(sport=1102, dport=2102) / payload(9, 0x34), dst="33:33:00:00:00:01"))
    p.rx(to_ha(IPv6(src=CN, dst=HOST, hlim=1) / UDP(sport=1103, dport=2103) / payload(9, 0x35), dst="ff:ff:ff:ff:ff:ff"))
    p.count("icmp_suppressed", 3)
    p.count("drop_hop_limit_exceeded", 5)
    return p


def upstream_time_exceeded(method):
    """An upstream packet whose inner hop limit runs out here gets its Time Exceeded back through the
    router's tunnel (the way it came): tunneled like any packet to the router. A spoofed one is dropped
    before (the home agent answers only its own routers); an ICMPv6 error gets none (2.4 (e.1)). The error
    is queued for the tunnel's side: for the IPv4 methods the access side, sent before the forwarded
    packets (home side)."""
    p = Pair()
    expiring = IPv6(src=HOST, dst=CN, hlim=1) / UDP(sport=3200, dport=4200) / payload(30, 0x40)
    p.rx(to_ha(tunnel(method, expiring, outbound=False)))
    p.tx(tunnel_queue(method), UP, from_ha(tunnel(method, icmp_error(expiring))))
    up_forward(p, method, IPv6(src=HOA, dst=CN, hlim=2) / UDP(sport=3201, dport=4201) / payload(30, 0x41))
    zero = IPv6(src=HOA, dst=CN, hlim=0) / ICMPv6EchoRequest(id=4, seq=4) / payload(10, 0x42)
    p.rx(to_ha(tunnel(method, zero, outbound=False)))
    p.tx(tunnel_queue(method), UP, from_ha(tunnel(method, icmp_error(zero))))
    p.count("te_sent", 2)
    p.count(f"encap_{method_counter(method)}", 2)  # the errors went into the tunnel
    error = IPv6(src=HOST, dst=CN, hlim=1) / ICMPv6DestUnreach(code=3) / payload(48, 0x43)
    p.rx(to_ha(tunnel(method, error, outbound=False)))
    p.count("icmp_suppressed")
    p.count("drop_hop_limit_exceeded", 3)
    spoofed = IPv6(src=SPOOFED, dst=CN, hlim=1) / UDP(sport=1, dport=2) / payload(8, 0x44)
    p.rx(to_ha(tunnel(method, spoofed, outbound=False)))
    p.count("spoofed")
    return p


# ---- Packet Too Big (RFC 4443 3.2, RFC 8201) ----

def downstream_too_big(method):
    """The tunnel takes packets up to the port's MTU less its headers: one that size goes; one byte more,
    or a full 1500-byte packet, is dropped with a Packet Too Big naming that MTU to its sender (to the
    frame's sender, even when the frame went to a link-layer multicast address: 2.4 (e.4) makes the exception
    of (e.3) for Packet Too Big). None about a packet from a multicast or the unspecified source (2.4 (e.6))
    or about an ICMPv6 error (2.4 (e.1)), though each is dropped and counted as too big."""
    p = Pair()
    mtu = PORT_MTU - OVERHEAD[method]
    down_forward(p, method, sized(CN, HOST, mtu, 0x50))
    for pkt, dst_mac in ((sized(CN, HOST, mtu + 1, 0x51), HA_MAC), (sized(CN, HOA, 1500, 0x52), HA_MAC),
                         (sized(CN, HOST, mtu + 10, 0x53), "33:33:00:00:00:01")):
        p.rx(to_ha(pkt, dst=dst_mac))
        p.tx(ACCESS, DOWN, from_ha(icmp_error(pkt, mtu=mtu)))
        p.count("too_big")
        p.count("ptb_sent")
    for src in ("ff0e::1234", "::"):
        p.rx(to_ha(sized(src, HOST, 1500, 0x54)))
    big_error = IPv6(src=CN, dst=HOST, hlim=64) / ICMPv6DestUnreach(code=1) / payload(1500 - 48, 0x55)
    p.rx(to_ha(big_error))
    p.count("too_big", 3)
    p.count("icmp_suppressed", 3)
    return p


def upstream_too_big(method):
    """An upstream packet larger than the home link takes (its MTU, the rig's 1500) can only have come in
    fragments of the outer IPv4 header: reassembled, it cannot be forwarded, and a Packet Too Big naming
    the home link's MTU (RFC 4443 3.2) goes back through the router's tunnel. A packet that fits still goes."""
    p = Pair()
    big = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=5100, dport=6100) / payload(1600 - 48, 0x56)
    whole = tunnel(method, big, outbound=False)
    whole[IP].id = 0x2345
    for f in fragment(IP(bytes(whole)), fragsize=512):
        p.rx(to_ha(f))
    p.count("reassembled")
    p.tx(ACCESS, UP, from_ha(tunnel(method, icmp_error(big, mtu=PORT_MTU))))
    p.count("too_big")
    p.count("ptb_sent")
    p.count(f"encap_{method}")  # the error went into the tunnel
    up_forward(p, method, sized(HOST, CN, PORT_MTU - 100, 0x57))
    return p


# ---- ARP (RFC 826) and Neighbor Discovery (RFC 4861, proxy: RFC 6275 10.4.1) ----

def solicited_node(addr):
    low = ipaddress.IPv6Address(addr).packed[13:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + low))


def multicast_mac(addr):
    b = ipaddress.IPv6Address(addr).packed[12:]
    return "33:33:" + ":".join(f"{x:02x}" for x in b)


def ns(src, target, sllad=None, hlim=255, dst=None):
    pkt = IPv6(src=src, dst=dst or solicited_node(target), hlim=hlim) / ICMPv6ND_NS(tgt=target)
    if sllad:
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=sllad)
    return pkt


def na(src, dst, target, r, s, o):
    return (IPv6(src=src, dst=dst, hlim=255) / ICMPv6ND_NA(R=int(r), S=int(s), O=int(o), tgt=target) /
            ICMPv6NDOptDstLLAddr(lladdr=HA_MAC))


def arp_nd():
    """The responder, with a mobile host's binding (its home address defended). ARP: a request for the HA's
    IPv4 address gets a reply to the asker (RFC 826: our hardware and protocol address as sender, the
    asker's as target), and the asker is learnt (a copy to the control thread). ND (RFC 4861 7.2.4): a
    solicitation for the HA's own address gets an advertisement with Router (the HA is a router), Override,
    and the Target Link-Layer Address option; Solicited and unicast to the asker, or, for Duplicate Address
    Detection (unspecified source), Solicited clear and to all-nodes. For a defended home address (RFC 6275
    10.4.1): the HA's link-layer address, Router clear (a host's home address), from the HA's address, and
    Override clear (RFC 4861 7.2.4: proxy advertisements SHOULD NOT override). A solicitation with the asker's
    link-layer address teaches it (a copy to the control thread). Not answered: targets neither the HA's nor
    defended, and solicitations RFC 4861 7.1.1 says to discard silently (hop limit not 255, bad checksum)."""
    p = Pair()
    ask = ARP(op=1, hwsrc=GW_MAC, psrc=GW4, hwdst="00:00:00:00:00:00", pdst=HA4)
    p.rx(Ether(dst="ff:ff:ff:ff:ff:ff", src=GW_MAC) / ask)
    p.tx(ACCESS, REPLY, Ether(dst=GW_MAC, src=HA_MAC) / ARP(op=2, hwsrc=HA_MAC, psrc=HA4, hwdst=GW_MAC, pdst=GW4))
    # Padded to Ethernet's minimum, as on a real link: the reply is the same length.
    ask2 = ARP(op=1, hwsrc=OTHER_MAC, psrc=OTHER4, hwdst="00:00:00:00:00:00", pdst=HA4)
    p.rx(Ether(dst="ff:ff:ff:ff:ff:ff", src=OTHER_MAC) / ask2 / Padding(b"\0" * 18))
    p.tx(ACCESS, REPLY, Ether(dst=OTHER_MAC, src=HA_MAC) /
         ARP(op=2, hwsrc=HA_MAC, psrc=HA4, hwdst=OTHER_MAC, pdst=OTHER4) / Padding(b"\0" * 18))
    p.count("arp_replies", 2)
    p.count("punted", 2)

    p.rx(to_ha(ns(GW6, HA6, sllad=GW_MAC), dst=multicast_mac(solicited_node(HA6))))
    p.tx(ACCESS, REPLY, from_ha(na(HA6, GW6, HA6, r=True, s=True, o=True)))
    p.count("punted")
    p.rx(to_ha(ns("::", HA6), src=OTHER_MAC, dst=multicast_mac(solicited_node(HA6))))
    p.tx(ACCESS, REPLY, from_ha(na(HA6, "ff02::1", HA6, r=True, s=False, o=True), dst="33:33:00:00:00:01"))
    p.rx(to_ha(ns(GW6, HOA, sllad=GW_MAC), dst=multicast_mac(solicited_node(HOA))))
    p.tx(ACCESS, REPLY, from_ha(na(HA6, GW6, HOA, r=False, s=True, o=False)))
    p.count("punted")
    p.rx(to_ha(ns("::", HOA), src=OTHER_MAC, dst=multicast_mac(solicited_node(HOA))))
    p.tx(ACCESS, REPLY, from_ha(na(HA6, "ff02::1", HOA, r=False, s=False, o=False), dst="33:33:00:00:00:01"))
    p.count("na_sent", 4)

    p.rx(to_ha(ns(GW6, HOME_UNBOUND, sllad=GW_MAC), dst=multicast_mac(solicited_node(HOME_UNBOUND))))
    p.count("drop_not_for_us")
    p.rx(to_ha(ns(GW6, HA6, sllad=GW_MAC, hlim=64), dst=multicast_mac(solicited_node(HA6))))
    bad = Ether(bytes(to_ha(ns(GW6, HA6, sllad=GW_MAC), dst=multicast_mac(solicited_node(HA6)))))
    bad[ICMPv6ND_NS].cksum ^= 0x0101
    p.rx(bad)
    coded = ns(GW6, HA6, sllad=GW_MAC)
    coded[ICMPv6ND_NS].code = 1
    p.rx(to_ha(coded, dst=multicast_mac(solicited_node(HA6))))
    zero_len_option = Raw(b"\x0e\x00" + bytes(6))
    p.rx(to_ha(ns(GW6, HA6, sllad=GW_MAC) / zero_len_option, dst=multicast_mac(solicited_node(HA6))))
    multicast_target = ns(GW6, "ff02::1", sllad=GW_MAC, dst=solicited_node(HA6))
    p.rx(to_ha(multicast_target, dst=multicast_mac(solicited_node(HA6))))
    p.count("drop_malformed", 5)
    return p


def nd_invalid_dad():
    """RFC 4861 7.1.1: a solicitation from the unspecified address (Duplicate Address Detection) is valid
    only sent to a solicited-node multicast address and without a Source Link-Layer Address option; a node
    MUST silently discard one that is not. Neither gets an answer, for the HA's address or a defended one."""
    p = Pair()
    p.rx(to_ha(ns("::", HA6, sllad=OTHER_MAC), src=OTHER_MAC, dst=multicast_mac(solicited_node(HA6))))
    p.rx(to_ha(ns("::", HOA, sllad=OTHER_MAC), src=OTHER_MAC, dst=multicast_mac(solicited_node(HOA))))
    p.rx(to_ha(ns("::", HA6, dst=HA6), src=OTHER_MAC))
    p.rx(to_ha(ns("::", HOA, dst="ff02::1"), src=OTHER_MAC, dst="33:33:00:00:00:01"))
    p.count("drop_malformed", 4)
    return p


# ---- ESP (RFC 4303, AES-CBC RFC 3602, HMAC-SHA-256-128 RFC 4868) ----

def mr_sa():
    """The router's end of our inbound SA: it seals what the router sends."""
    return SecurityAssociation(ESP, spi=SPI_IN, crypt_algo="AES-CBC", crypt_key=ENC_IN, auth_algo="SHA2-256-128",
                               auth_key=AUTH_IN, tunnel_header=IP(src=COA, dst=HA4, ttl=60))


def mr_iv(seq):
    """The router's IV for a packet: any unpredictable value does (RFC 3602 2.3); fixed here so that the
    files come out the same on every run."""
    return bytes((seq * 17 + i * 5) & 0xFF for i in range(16))


def esp_from_mr(inner, seq, outer_src=COA):
    sa = mr_sa()
    if outer_src != COA:
        sa.tunnel_header = IP(src=outer_src, dst=HA4, ttl=60)
    return sa.encrypt(inner, seq_num=seq, iv=mr_iv(seq))


def esp_dummy_from_mr(seq, n):
    """A dummy packet (RFC 4303 2.6): next header 59, payload of no meaning, the SA's padding, ICV and all."""
    sa = mr_sa()
    esp = _ESPPlain(spi=SPI_IN, seq=seq, iv=mr_iv(seq), data=payload(n, 0x99), nh=59)
    esp = sa.crypt_algo.pad(esp)
    esp = sa.crypt_algo.encrypt(sa, esp, sa.crypt_key, sa.crypt_icv_size)
    sa.auth_algo.sign(esp, sa.auth_key)
    return IP(src=COA, dst=HA4, ttl=60, proto=50) / esp


def ha_iv(spi, seq):
    """The HA's IV: RFC 3602 2.3 asks only that it be unpredictable, which leaves its value to the
    implementation. The one thing in these pairs that is nemo-ha's choice rather than a specification's
    (lib/esp_transform.cpp, esp_encrypt_burst): the SPI, the sequence number and its high half, and four
    zero bytes, encrypted under the SA's key. Needed to compare the sealed frames byte for byte."""
    block = spi.to_bytes(4, "big") + (seq & 0xFFFFFFFF).to_bytes(4, "big") + (seq >> 32).to_bytes(4, "big") + bytes(4)
    enc = Cipher(algorithms.AES(ENC_OUT), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def esp_from_ha(inner, seq):
    """ESP tunnel mode to the router with our outbound SA: the outer IPv4 header as for the other IPv4
    methods (DF, Identification 0, TTL 64, the inner traffic class)."""
    sa = SecurityAssociation(ESP, spi=SPI_OUT, crypt_algo="AES-CBC", crypt_key=ENC_OUT, auth_algo="SHA2-256-128",
                             auth_key=AUTH_OUT, tunnel_header=IP(src=HA4, dst=COA, flags="DF", id=0, ttl=64, tos=inner.tc))
    return sa.encrypt(inner, seq_num=seq, iv=ha_iv(SPI_OUT, seq))


def esp_len(pkt):
    return len(raw(pkt[ESP]))


def upstream_esp():
    """S: the router's ESP packets verified and decrypted, the inner packet then checked and forwarded like
    any other. Dropped on the SA: a replayed sequence number (3.4.3), a forged packet (its ICV does not
    verify: 3.4.4; it does not move the window, so the real packet with its number still goes). Dropped
    quietly: a dummy packet (2.6). An unknown SPI is no SA's (3.4.2). A verified packet still passes the
    anti-spoofing check (inner source, outer source). A Time Exceeded goes back sealed with the outbound SA
    (access side, sealed after the burst's upstream packets: before the forwarded packets)."""
    p = Pair()
    sa_packets = sa_bytes = 0

    def good(inner, seq, forward=True):
        nonlocal sa_packets, sa_bytes
        pkt = esp_from_mr(inner, seq)
        p.rx(to_ha(pkt))
        sa_packets += 1
        sa_bytes += esp_len(pkt)
        if forward:
            p.tx(HOME, UP, from_ha(forwarded(inner)))
            p.count("decap_esp")
        return pkt

    first = good(IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=3300, dport=4300) / payload(40, 0x60), 1)
    good(IPv6(src=HOA, dst=CN, hlim=64, tc=0x28) / ICMPv6EchoRequest(id=5, seq=5) / payload(13, 0x61), 2)
    p.rx(to_ha(first))  # replayed
    p.count(f"sa.0x{SPI_IN:x}.drop_replayed")
    third = IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=3301, dport=4301) / payload(50, 0x62)
    forged = Ether(bytes(to_ha(esp_from_mr(third, 3))))
    forged_bytes = bytearray(bytes(forged))
    forged_bytes[14 + 20 + 8 + 16 + 5] ^= 0x01  # a bit of the ciphertext
    p.rx(Ether(bytes(forged_bytes)))
    p.count(f"sa.0x{SPI_IN:x}.drop_icv")
    good(third, 3)
    unknown = esp_from_mr(IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 0x63), 4)
    unknown[ESP].spi = SPI_UNKNOWN
    p.rx(to_ha(unknown))
    p.count("esp_unknown_spi")
    p.rx(to_ha(esp_dummy_from_mr(4, 20)))
    p.count("esp_dummy")
    good(IPv6(src=SPOOFED, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 0x64), 5, forward=False)
    p.count("spoofed")
    expiring = IPv6(src=HOST, dst=CN, hlim=1) / UDP(sport=3302, dport=4302) / payload(30, 0x65)
    good(expiring, 6, forward=False)
    te = icmp_error(expiring)
    sealed = esp_from_ha(te, 1)
    p.tx(ACCESS, UP_SEAL, from_ha(sealed))
    p.count("drop_hop_limit_exceeded")
    p.count("te_sent")
    p.count("encap_esp")
    p.count(f"sa.0x{SPI_OUT:x}.packets")
    p.count(f"sa.0x{SPI_OUT:x}.bytes", esp_len(sealed))
    wrong = esp_from_mr(IPv6(src=HOST, dst=CN, hlim=64) / UDP(sport=1, dport=2) / payload(8, 0x66), 7, outer_src=WRONG_COA)
    p.rx(to_ha(wrong))  # our SA, but not from the router's care-of address
    sa_packets += 1
    sa_bytes += esp_len(wrong)
    p.count("spoofed")
    p.count(f"sa.0x{SPI_IN:x}.packets", sa_packets)
    p.count(f"sa.0x{SPI_IN:x}.bytes", sa_bytes)
    return p


def downstream_esp():
    """S downstream: each packet sealed with the binding's outbound SA, sequence numbers from 1 in order
    (RFC 4303 3.3.3). A Time Exceeded for an expiring packet goes to its sender (queued while the others wait
    to be sealed: it leaves first)."""
    p = Pair()
    pkts = [IPv6(src=CN, dst=HOST, hlim=64) / UDP(sport=1200, dport=2200) / payload(60, 0x70),
            IPv6(src=CN, dst=HOA, hlim=9, tc=0xB9) / ICMPv6EchoRequest(id=6, seq=6) / payload(21, 0x71)]
    sent_bytes = 0
    for seq, inner in enumerate(pkts, 1):
        p.rx(to_ha(inner))
        sealed = esp_from_ha(forwarded(inner), seq)
        p.tx(ACCESS, DOWN_SEAL, from_ha(sealed))
        sent_bytes += esp_len(sealed)
        if seq == 1:
            p.rx(to_ha(IPv6(src=CN, dst=NOT_BOUND, hlim=64) / UDP(sport=1, dport=2) / payload(8, 0x72)))
            p.count("no_binding")
            expiring = IPv6(src=CN, dst=HOST, hlim=1) / UDP(sport=1201, dport=2201) / payload(20, 0x73)
            p.rx(to_ha(expiring))
            p.tx(ACCESS, DOWN, from_ha(icmp_error(expiring)))
            p.count("drop_hop_limit_exceeded")
            p.count("te_sent")
    p.count("encap_esp", len(pkts))
    p.count(f"sa.0x{SPI_OUT:x}.packets", len(pkts))
    p.count(f"sa.0x{SPI_OUT:x}.bytes", sent_bytes)
    return p


def write_pcap(path, frames):
    """Frames rebuilt from bytes (every length and checksum scapy's), with fixed timestamps: the files
    come out the same on every run."""
    pkts = []
    for i, p in enumerate(frames):
        e = Ether(bytes(p))
        e.time = i
        pkts.append(e)
    wrpcap(path, pkts, linktype=1)  # Ethernet, also for a pair that expects nothing


def write_seed(path, frames):
    """A seed for tests/fuzz/fuzz_worker.cpp: each frame as [length, 2 bytes big-endian][frame]."""
    with open(path, "wb") as f:
        for p in frames:
            b = bytes(p)
            f.write(len(b).to_bytes(2, "big") + b)


def pairs():
    for method in ("ipip", "gre", "udp", "ip6ip6"):
        yield f"down-{method}", downstream(method)
        yield f"up-{method}", upstream(method)
    for method in ("ipip", "udp"):
        yield f"up-{method}-fragments", upstream_fragmented(method)
        yield f"up-{method}-too-big", upstream_too_big(method)
    for method in ("ipip", "gre", "udp", "ip6ip6"):
        yield f"up-{method}-spoofed", upstream_spoofed(method)
        yield f"down-{method}-time-exceeded", downstream_time_exceeded(method)
        yield f"up-{method}-time-exceeded", upstream_time_exceeded(method)
        yield f"down-{method}-too-big", downstream_too_big(method)
    yield "arp-nd", arp_nd()
    yield "nd-invalid-dad", nd_invalid_dad()
    yield "up-esp", upstream_esp()
    yield "down-esp", downstream_esp()


def main():
    here = os.path.dirname(__file__)
    if len(sys.argv) > 1:
        out = seeds = sys.argv[1]
    else:
        out = os.path.join(here, "..", "tests", "fixtures", "golden")
        seeds = os.path.join(here, "..", "tests", "fuzz", "seeds", "worker")
    os.makedirs(out, exist_ok=True)
    os.makedirs(seeds, exist_ok=True)
    for name, p in pairs():
        write_pcap(os.path.join(out, f"{name}-send.pcap"), p.send)
        write_seed(os.path.join(seeds, name), p.send)
        write_pcap(os.path.join(out, f"{name}-expect.pcap"), p.expect())
        with open(os.path.join(out, f"{name}-counters.txt"), "w") as f:
            f.write(f"# Counters after {name}-send.pcap, by scripts/gen_golden_pcaps.py; any other is 0.\n")
            f.write("\n".join(p.counter_lines()) + "\n")


if __name__ == "__main__":
    main()
