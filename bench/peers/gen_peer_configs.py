#!/usr/bin/python3
"""Configurations of DPDK's reference applications for the traffic of scripts/gen_traffic_pcaps.py and
scripts/gen_esp_pcaps.py, N mobile routers (router i, 0-based: prefix 2001:db8:<0x1000 + i/65536>:
<i%65536>::/64, care-of address 100.64.0.0 + i; home agent 198.51.100.1; CN 2001:db8:cccc::1).

  secgw --direction out|in --alg aes-gcm-128|aes-cbc-128-hmac-sha256 --type lookaside|cpu-crypto
        --routers N --out FILE
      dpdk-ipsec-secgw's -f file. Port 0 is the pcap port, port 1 net_null.
      out: one "sp ipv6 out" rule per router prefix (destination) protected by the router's outbound
           SA (SPI 0x10000 + i, ipv4-tunnel 198.51.100.1 -> 100.64.0.0 + i, keys 0x5A / 0xA5 with
           bytes 0..3 = i LE, as pipeline_bench), "rt ipv4" 100.64.0.0/10 -> port 1.
      in:  one "sa in" per router (SPI 0x20000 + i, ipv4-tunnel 100.64.0.0 + i -> 198.51.100.1, keys
           0xC3 / 0x3C with bytes 0..3 = i LE), one "sp ipv6 in" per router (source = its prefix,
           destination the CN's /64) protected by that SA, "rt ipv6" 2001:db8:cccc::/64 -> port 1.
      --type cpu-crypto adds "type cpu-crypto" to each SA; lookaside leaves the type out (lookaside
      through whichever crypto device the command line gives).
  l3fwd-lpm --routers N --out DIR
      DIR/lpm-v6.cfg: one /64 route per router prefix -> port 1; DIR/lpm-v4.cfg: one route (l3fwd
      needs both files; no IPv4 is sent).
  l3fwd-em --routers N --out DIR
      DIR/em-v6.cfg: one 5-tuple per router, (dst prefix::1, src the CN, dport 9, sport 1024, UDP)
      -> port 1; DIR/em-v4.cfg: one rule. EM matches whole addresses, so it cannot match the random
      hosts of down-SIZE.pcap: it needs em-pcap's traffic.
  em-pcap --routers N --packets P --size S [--seed 1] --out DIR
      DIR/down-fixed-S.pcap: down-S.pcap's routers in the same order (same seed) but each packet to
      host ::1 of its router's prefix, for l3fwd -E (and nemo-ha on the same frames).
  check-esp-out --routers N --alg ALG --pcap FILE [--sample 64]
      Decrypts the first packets of FILE (what a peer sent for outbound ESP, captured with net_pcap's
      tx_pcap in place of net_null) with the outbound SAs above; fails unless each is ESP from the HA
      to its router's care-of address that decrypts (ICV checked) to IPv6 to a host of that router's
      prefix.
"""
import argparse
import ipaddress
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
# One addressing and one key scheme for every benchmark pcap and peer (gen_traffic_pcaps.py, gen_esp_pcaps.py).
from gen_esp_pcaps import ALGS, keyed  # noqa: E402
from gen_traffic_pcaps import CN, HA4, mnp  # noqa: E402
from gen_traffic_pcaps import peer as coa  # noqa: E402


def hexkey(b):
    return ":".join(f"{x:02x}" for x in b)


def sa_line(direction, alg, i, typ):
    if direction == "out":
        spi, enc, auth, src, dst = 0x10000 + i, 0x5A, 0xA5, HA4, coa(i)
    else:
        spi, enc, auth, src, dst = 0x20000 + i, 0xC3, 0x3C, coa(i), HA4
    if alg == "aes-gcm-128":
        crypto = f"aead_algo aes-128-gcm aead_key {hexkey(keyed(enc, 20, i))}"
    else:
        crypto = (f"cipher_algo aes-128-cbc cipher_key {hexkey(keyed(enc, 16, i))} "
                  f"auth_algo sha256-hmac auth_key {hexkey(keyed(auth, 32, i))}")
    extra = " type cpu-crypto" if typ == "cpu-crypto" else ""
    return f"sa {direction} {spi} {crypto} mode ipv4-tunnel src {src} dst {dst}{extra}\n"


def secgw(a, f):
    f.write(f"# dpdk-ipsec-secgw -f file: {a.direction}bound ESP, {a.alg}, {a.type}, {a.routers} routers\n"
            f"# (bench/peers/gen_peer_configs.py; port 0 = net_pcap, port 1 = net_null)\n")
    for i in range(a.routers):
        if a.direction == "out":
            f.write(f"sp ipv6 out esp protect {0x10000 + i} pri 1 dst {mnp(i)}/64 sport 0:65535 dport 0:65535\n")
        else:
            f.write(f"sp ipv6 in esp protect {0x20000 + i} pri 1 src {mnp(i)}/64 dst 2001:db8:cccc::/64 "
                    f"sport 0:65535 dport 0:65535\n")
    for i in range(a.routers):
        f.write(sa_line(a.direction, a.alg, i, a.type))
    if a.direction == "out":
        f.write("rt ipv4 dst 100.64.0.0/10 port 1\n")
    else:
        f.write("rt ipv6 dst 2001:db8:cccc::/64 port 1\n")


def write_rules(out, name, header, lines):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "w") as f:
        f.write(header + "\n")
        for line in lines:
            f.write(line + "\n")


def l3fwd_lpm(a):
    write_rules(a.out, "lpm-v6.cfg", f"# l3fwd --rule_ipv6: {a.routers} router prefixes -> port 1 (net_null)",
                (f"R{mnp(i)}/64 1" for i in range(a.routers)))
    write_rules(a.out, "lpm-v4.cfg", "# l3fwd --rule_ipv4: one route (the traffic is IPv6)", ["R198.18.0.0/15 1"])


def l3fwd_em(a):
    write_rules(a.out, "em-v6.cfg",
                f"# l3fwd -E --rule_ipv6: dst src dport sport proto port; host ::1 of {a.routers} router prefixes",
                (f"R{mnp(i)}1 {CN} 9 1024 0x11 1" for i in range(a.routers)))
    write_rules(a.out, "em-v4.cfg", "# l3fwd -E --rule_ipv4: one rule (the traffic is IPv6)",
                ["R198.18.0.1 198.18.0.2 9 1024 0x11 1"])


def em_pcap(a):
    from scapy.all import UDP, Ether, IPv6, PcapWriter, Raw
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    routers = [rng.randrange(a.routers) for _ in range(a.packets)]  # as gen_traffic_pcaps.py draws them
    path = os.path.join(a.out, f"down-fixed-{a.size}.pcap")
    with PcapWriter(path + ".tmp", sync=False) as w:
        for i in routers:
            p = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / \
                IPv6(src=CN, dst=mnp(i) + "1", hlim=64) / UDP(sport=1024, dport=9)
            w.write(p / Raw(b"\x00" * max(a.size - len(p), 0)))
    os.replace(path + ".tmp", path)


def check_esp_out(a):
    from scapy.all import ESP, IP, IPv6, PcapReader
    from scapy.layers.ipsec import SecurityAssociation
    n = 0
    with PcapReader(a.pcap) as r:
        for frame in r:
            if n >= a.sample:
                break
            if ESP not in frame:
                sys.exit(f"{a.pcap}: packet {n} is not ESP")
            ip = frame[IP]
            i = frame[ESP].spi - 0x10000
            if not 0 <= i < a.routers or ip.src != HA4 or ip.dst != coa(i):
                sys.exit(f"{a.pcap}: packet {n}: SPI {frame[ESP].spi:#x} {ip.src} -> {ip.dst} is not router {i}'s SA")
            if a.alg == "aes-gcm-128":
                sa = SecurityAssociation(ESP, spi=0x10000 + i, crypt_algo="AES-GCM", crypt_key=keyed(0x5A, 20, i),
                                         auth_algo="NULL", tunnel_header=IP(src=HA4, dst=coa(i)))
            else:
                sa = SecurityAssociation(ESP, spi=0x10000 + i, crypt_algo="AES-CBC", crypt_key=keyed(0x5A, 16, i),
                                         auth_algo="SHA2-256-128", auth_key=keyed(0xA5, 32, i),
                                         tunnel_header=IP(src=HA4, dst=coa(i)))
            inner = sa.decrypt(IP(bytes(ip)))
            if IPv6 not in inner or ipaddress.IPv6Address(inner[IPv6].dst) not in ipaddress.IPv6Network(mnp(i) + "/64"):
                sys.exit(f"{a.pcap}: packet {n}: does not decrypt to IPv6 into router {i}'s prefix")
            n += 1
    if n == 0:
        sys.exit(f"{a.pcap}: no packets")
    print(f"{a.pcap}: {n} ESP packets decrypt with router's outbound SAs ({a.alg})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("secgw", "l3fwd-lpm", "l3fwd-em", "em-pcap", "check-esp-out"))
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--direction", choices=("out", "in"), default="out")
    ap.add_argument("--alg", choices=ALGS, default="aes-gcm-128")
    ap.add_argument("--type", choices=("lookaside", "cpu-crypto"), default="lookaside")
    ap.add_argument("--packets", type=int, default=32768)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--pcap")
    ap.add_argument("--sample", type=int, default=64)
    a = ap.parse_args()
    if a.routers < 1 or a.routers > 1 << 20:
        sys.exit("--routers: 1 to 1048576")
    if a.what == "check-esp-out":
        return check_esp_out(a)
    if not a.out:
        sys.exit("--out is needed")
    if a.what == "secgw":
        with open(a.out + ".tmp", "w") as f:
            secgw(a, f)
        os.replace(a.out + ".tmp", a.out)
    elif a.what == "l3fwd-lpm":
        l3fwd_lpm(a)
    elif a.what == "l3fwd-em":
        l3fwd_em(a)
    else:
        em_pcap(a)


if __name__ == "__main__":
    main()
