#!/usr/bin/python3
"""BU -> BA latency at the home agent while a flood of IKE_SA_INIT requests arrives, against the latency
without it, in the same run (issue 13's figure: public-key work must not starve BU/BA handling).

    sudo scripts/bench_ike_flood.py [--bus 300] [--rounds 3] [--rate 0] [--json FILE]

The demo topology (scripts/topology.sh, namespaces renamed by NEMO_NS_PREFIX, default "ikef-" here so that
it can run beside the tests) with the real nemo-ha (build/), IKEv2 on. One router registers over the U
method; its refreshes (priority punt class: a known care-of address) are sent one at a time from nemo-mr
over a raw socket, and the time from each send to its BA is taken there. Rounds alternate: no flood, then
a flood of IKE_SA_INITs (ECP-256, each with a new initiator SPI and a valid public value, so that each
costs the responder a Diffie-Hellman: cookies and the half-open bound are set out of the way) sent from
nemo-mr at --rate per second (0: as fast as one process sends). Printed: median, 99th percentile and
maximum per condition, the IKE counters (ike_rx, init_queue_full, ...) and the punt policer's drops.
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("NEMO_NS_PREFIX", "ikef-")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from frames import raw_socket, tunneled  # noqa: E402
from nemo_harness import HA4, COA, HomeAgent, Topology, binding_update, mac_of, netns, ns_name, register, tunnel  # noqa: E402
from scapy.all import Ether, raw  # noqa: E402


def ike_sa_init(spi_i, pub64, nonce):
    """An IKE_SA_INIT request (RFC 7296 3.1-3.9): one IKE proposal (AES-GCM-16/128, PRF HMAC-SHA-256,
    ECP-256), a KE payload of group 19, a nonce. Laid out by hand: no IKE library on the sending side."""
    t_encr = struct.pack("!BBHBBH", 3, 0, 12, 1, 0, 20) + struct.pack("!HH", 0x800E, 128)
    t_prf = struct.pack("!BBHBBH", 3, 0, 8, 2, 0, 5)
    t_dh = struct.pack("!BBHBBH", 0, 0, 8, 4, 0, 19)
    body = t_encr + t_prf + t_dh
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, 3) + body
    sa = struct.pack("!BBH", 34, 0, 4 + len(proposal)) + proposal
    ke = struct.pack("!BBHHH", 40, 0, 8 + len(pub64), 19, 0) + pub64
    nn = struct.pack("!BBH", 0, 0, 4 + len(nonce)) + nonce
    payloads = sa + ke + nn
    hdr = struct.pack("!QQBBBBII", spi_i, 0, 33, 0x20, 34, 0x08, 0, 28 + len(payloads))
    return hdr + payloads


def flood(stop, rate, sent):
    """Sends IKE_SA_INITs to the HA's port 500 from a kernel UDP socket until `stop` (in nemo-mr)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]
    template = bytearray(ike_sa_init(1, pub, os.urandom(32)))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((COA, 0))
    spi = int.from_bytes(os.urandom(8), "big") | 1
    gap = 1.0 / rate if rate else 0.0
    nxt = time.perf_counter()
    while not stop.is_set():
        spi = (spi + 2) & 0xFFFFFFFFFFFFFFFF
        template[0:8] = spi.to_bytes(8, "big")
        try:
            s.sendto(template, (HA4, 500))
            sent[0] += 1
        except OSError:
            pass
        if gap:
            nxt += gap
            d = nxt - time.perf_counter()
            if d > 0:
                time.sleep(d)
    s.close()


def latencies(ha_mac, mr_mac, seq0, count, sock):
    """Sends `count` refreshes one at a time; the seconds from each send to its BA (None: no BA in 1 s)."""
    out = []
    for i in range(count):
        seq = (seq0 + i) & 0xFFFF
        frame = raw(Ether(src=mr_mac, dst=ha_mac) / tunnel("udp", binding_update(seq, "udp", lifetime=600)))
        t0 = time.perf_counter()
        sock.send(frame)
        got = None
        deadline = t0 + 1.0
        while got is None and time.perf_counter() < deadline:
            try:
                f = sock.recv(65535)
            except socket.timeout:
                continue
            t = tunneled(f)
            if not t or t[1] != "udp":
                continue
            # The BA: MH type 6 after the IPv6 header (and a type 2 routing header, skipped by offset).
            ip6 = t[3]
            nh, at = ip6[6], 40
            while nh in (0, 43, 60) and at + 8 <= len(ip6):
                nh, at = ip6[at], at + (ip6[at + 1] + 1) * 8
            if nh == 135 and at + 10 <= len(ip6) and ip6[at + 2] == 6 and struct.unpack("!H", ip6[at + 8:at + 10])[0] == seq:
                got = time.perf_counter() - t0
        out.append(got)
        time.sleep(0.005)
    return out


def summary(vals):
    v = sorted(x for x in vals if x is not None)
    if not v:
        return {"answered": 0, "of": len(vals)}
    p99 = v[min(len(v) - 1, int(0.99 * len(v)))]
    return {"answered": len(v), "of": len(vals), "median_ms": round(statistics.median(v) * 1e3, 3),
            "p99_ms": round(p99 * 1e3, 3), "max_ms": round(v[-1] * 1e3, 3)}


EXTRA = [o for o in os.environ.get("NEMO_HA_EXTRA", "").split() if o]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=0, help="IKE_SA_INITs per second (0: as fast as one sender goes)")
    ap.add_argument("--json")
    a = ap.parse_args()
    psk_dir = tempfile.mkdtemp(prefix="nemo-ike-flood-")
    psk = os.path.join(psk_dir, "ike.psk")
    fd = os.open(psk, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"r1.example correct-horse-battery-staple\n")
    os.close(fd)
    results = {"no_flood": [], "flood": [], "flood_sent_per_s": []}
    with Topology(), HomeAgent("--ike.enabled=yes", f"--ike.psk_file={psk}", "--ike.cookie_threshold=1000000",
                               "--ike.half_open_max=1000000", "--ike.dpd_s=0", *EXTRA) as ha:
        # The flood leaves from a kernel UDP socket: its checksums must be complete on the veth (the HA
        # drops a bad UDP checksum as malformed), not left to an offload that never happens.
        subprocess.run(["ip", "netns", "exec", ns_name("nemo-mr"), "ethtool", "-K", "mr0", "tx", "off"],
                       check=True, capture_output=True)
        _, ba = register("udp", 1, lifetime=600)
        if ba is None:
            sys.exit("bench_ike_flood: the router did not register")
        ha_mac, mr_mac = mac_of("nemo-ha", "ha-acc"), mac_of("nemo-mr", "mr0")
        with netns("nemo-mr"):
            sock = raw_socket("mr0", 8 << 20)
        sock.settimeout(0.01)
        seq = 2
        for rnd in range(a.rounds):
            for cond in ("no_flood", "flood"):
                stop, sent = threading.Event(), [0]
                th = None
                if cond == "flood":
                    def run():
                        with netns("nemo-mr"):
                            flood(stop, a.rate, sent)
                    th = threading.Thread(target=run, daemon=True)
                    th.start()
                    time.sleep(1.0)  # the queue fills and the control thread is busy before the first BU
                t0 = time.time()
                lat = latencies(ha_mac, mr_mac, seq, a.bus, sock)
                seq += a.bus
                if th:
                    stop.set()
                    th.join()
                    results["flood_sent_per_s"].append(round(sent[0] / (time.time() - t0 + 1.0)))
                    time.sleep(2.0)  # the queue drains
                results[cond].append(summary(lat))
                print(f"round {rnd + 1} {cond}: {summary(lat)}", flush=True)
        st = ha.ctl("show", "stats")
        results["ike"] = st.get("ike", {})
        results["dataplane_punt_policed_bulk"] = st.get("dataplane", {}).get("punt_policed_bulk")
        sock.close()
    for cond in ("no_flood", "flood"):
        med = [r["median_ms"] for r in results[cond] if "median_ms" in r]
        p99 = [r["p99_ms"] for r in results[cond] if "p99_ms" in r]
        if med:
            print(f"{cond}: median {statistics.median(med):.3f} ms (rounds {min(med):.3f}-{max(med):.3f}), "
                  f"p99 {statistics.median(p99):.3f} ms (rounds {min(p99):.3f}-{max(p99):.3f})")
    print("IKE_SA_INIT sent per second during the flood rounds:", results["flood_sent_per_s"])
    print("ike counters:", {k: v for k, v in results["ike"].items() if v})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
