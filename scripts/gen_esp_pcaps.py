#!/usr/bin/python3
"""Writes inbound (upstream) ESP traffic for the home agent's benchmarks: ESP tunnel mode over IPv4 from
the mobile routers' care-of addresses to the home agent, each router with its own inbound SA.

Router i (0-based, as in scripts/gen_traffic_pcaps.py): care-of address 100.64.0.0 + i, mobile network
prefix 2001:db8:<0x1000 + i/65536>:<i%65536>::/64. Its inbound SA: SPI 0x20000 + i, tunnel
100.64.0.0 + i -> 198.51.100.1, no ESN, keys
  aes-gcm-128:             20 bytes (16 key + 4 salt) of 0xC3, bytes 0..3 = i (little-endian uint32)
  aes-cbc-128-hmac-sha256: cipher key 16 bytes of 0xC3, HMAC-SHA-256 key 32 bytes of 0x3C, both with
                           bytes 0..3 = i (little-endian), ICV 16 bytes (SHA-256-128)

    /usr/bin/python3 scripts/gen_esp_pcaps.py --routers 1000 --packets 32768 --size 64 \
        --alg aes-gcm-128 --out DIR

writes DIR/up-esp-ALG-SIZE.pcap: Ether(02:00:00:00:00:02 -> 02:00:00:00:00:01) / IPv4 / ESP. Packet k
goes from a random router (seeded); the inner packet is IPv6 from a random host in that router's prefix
to the correspondent 2001:db8:cccc::1, UDP 1024 -> 9, padded so that the inner packet as an Ethernet
frame would be SIZE bytes (SIZE - 14 bytes of IPv6: the frames of down-SIZE.pcap); the ESP frame is
larger. Sequence numbers count 1, 2, 3 ... per router and never repeat within the pcap; the GCM IV is
the sequence number (unique per SA), the CBC IV random. The script then decrypts a sample of its own
output with the same SAs and, where tshark exists, checks that tshark dissects the outer ESP.
"""
import argparse
import ipaddress
import os
import random
import shutil
import struct
import subprocess
import sys

from scapy.all import ESP, IP, UDP, Ether, IPv6, PcapReader, PcapWriter, Raw
from scapy.layers.ipsec import SecurityAssociation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The routers' addressing is gen_traffic_pcaps.py's, so that both pcaps belong to the same bindings.
from gen_traffic_pcaps import CN, HA4, HA_MAC, PEER_MAC, host_in, mnp  # noqa: E402
from gen_traffic_pcaps import peer as coa  # noqa: E402

ALGS = ("aes-gcm-128", "aes-cbc-128-hmac-sha256")


def spi(i):
    return 0x20000 + i


def keyed(fill, length, i):
    """`length` bytes of `fill` with bytes 0..3 = i as a little-endian uint32."""
    return struct.pack("<I", i) + bytes([fill]) * (length - 4)


def inbound_sa(alg, i):
    tunnel = IP(src=coa(i), dst=HA4, flags="DF")
    if alg == "aes-gcm-128":
        return SecurityAssociation(ESP, spi=spi(i), crypt_algo="AES-GCM", crypt_key=keyed(0xC3, 20, i),
                                   auth_algo="NULL", tunnel_header=tunnel)
    return SecurityAssociation(ESP, spi=spi(i), crypt_algo="AES-CBC", crypt_key=keyed(0xC3, 16, i),
                               auth_algo="SHA2-256-128", auth_key=keyed(0x3C, 32, i), tunnel_header=tunnel)


def inner_packet(i, size, rng):
    pkt = IPv6(src=host_in(i, rng), dst=CN, hlim=64) / UDP(sport=1024, dport=9)
    room = size - 14 - len(pkt)
    return IPv6(bytes(pkt / Raw(b"\x00" * max(room, 0))))


def check(path, alg, routers, sample):
    """Decrypts the first `sample` packets with fresh SAs; checks tshark's view of the outer ESP."""
    sas = {}
    n = 0
    with PcapReader(path) as r:
        for frame in r:
            if n >= sample:
                break
            ip = frame[IP]
            i = frame[ESP].spi - 0x20000
            if not 0 <= i < routers or ip.src != coa(i) or ip.dst != HA4:
                sys.exit(f"{path}: packet {n}: SPI {frame[ESP].spi:#x} / {ip.src} does not fit router {i}")
            sa = sas.setdefault(i, inbound_sa(alg, i))
            inner = sa.decrypt(ip)
            if IPv6 not in inner or inner[IPv6].dst != CN or \
                    ipaddress.IPv6Address(inner[IPv6].src) not in ipaddress.IPv6Network(mnp(i) + "/64"):
                sys.exit(f"{path}: packet {n}: does not decrypt to IPv6 from router {i}'s prefix to the CN")
            n += 1
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", path, "-c", "3", "-T", "fields", "-e", "esp.spi"],
                             capture_output=True, text=True, check=True).stdout.split()
        want = []
        with PcapReader(path) as r:
            for k, frame in enumerate(r):
                if k == 3:
                    break
                want.append(frame[ESP].spi)
        if [int(x, 0) for x in out] != want:
            sys.exit(f"{path}: tshark's ESP SPIs {out} are not {want}")
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--packets", type=int, default=4096)
    ap.add_argument("--size", type=int, default=64, help="inner frame size in bytes (64-1518)")
    ap.add_argument("--alg", choices=ALGS, default="aes-gcm-128")
    ap.add_argument("--out", default="traffic")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", type=int, default=64, help="packets to decrypt again as a check (0: none)")
    a = ap.parse_args()
    if not 64 <= a.size <= 1518:
        sys.exit("--size: 64 to 1518")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    routers = [rng.randrange(a.routers) for _ in range(a.packets)]
    sas, seqs = {}, {}
    path = os.path.join(a.out, f"up-esp-{a.alg}-{a.size}.pcap")
    with PcapWriter(path + ".tmp", sync=False) as w:
        for i in routers:
            sa = sas.get(i) or sas.setdefault(i, inbound_sa(a.alg, i))
            seq = seqs[i] = seqs.get(i, 0) + 1
            iv = struct.pack(">Q", seq) if a.alg == "aes-gcm-128" else None
            esp = sa.encrypt(inner_packet(i, a.size, rng), seq_num=seq, iv=iv)
            w.write(Ether(src=PEER_MAC, dst=HA_MAC) / esp)
    os.replace(path + ".tmp", path)
    checked = check(path, a.alg, a.routers, a.check)
    print(f"wrote {path} ({a.packets} packets from {len(sas)} of {a.routers} routers; "
          f"{checked} decrypted again as a check)")


if __name__ == "__main__":
    main()
