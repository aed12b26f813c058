#!/usr/bin/python3
"""The nemo-ha demo: a mobile router on an IPv4-only access network registers its IPv4 care-of address
with nemo-ha over each tunnel method, and a correspondent node on the home link pings a host in the
router's mobile network through the home agent. scapy plays the mobile router; the CN is the Linux
kernel. nemo-hactl shows the bindings and counters. Everything is torn down at the end.

    scripts/demo.sh      (as root; builds first; this script expects a built tree)
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from nemo_harness import (COA, HA4, HOA, MNP_A, MNP_B, AsyncSniffer, HomeAgent, Topology, inner_of, netns,  # noqa: E402
                          register, send_from, tunnel, tunnel_filter)
from scapy.all import IPv6  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest  # noqa: E402


def mobile_router_answers(method, stop):
    """Answers echo requests that reach the mobile network through the tunnel, through the tunnel."""
    def answer(p):
        try:
            inner = inner_of(p, method)
        except Exception:
            return
        if inner.haslayer(ICMPv6EchoRequest):
            req = inner[ICMPv6EchoRequest]
            reply = IPv6(src=inner.dst, dst=inner.src) / ICMPv6EchoReply(id=req.id, seq=req.seq, data=req.data)
            send_from("nemo-mr", tunnel(method, reply))
    with netns("nemo-mr"):
        sniffer = AsyncSniffer(iface="mr0", filter=tunnel_filter(method), prn=answer, store=False)
        sniffer.start()
    stop.wait()
    sniffer.stop()


def show(ha, *args):
    print(f"$ nemo-hactl {' '.join(args)}")
    print(ha.ctl_raw(*args).stdout)


def main():
    if os.geteuid() != 0:
        sys.exit("the demo builds network namespaces: run it as root")
    with Topology(), HomeAgent() as ha:
        print(f"nemo-ha is up (built-in configuration; HA {HA4}, mobile router {HOA} at {COA})\n")
        ok = True
        for seq, method in enumerate(("ipip", "gre", "udp"), start=1):
            outer, ba = register(method, seq, prefixes=(MNP_A, MNP_B))
            status = ba.getlayer("IPv6 Mobility Header - Binding ACK").status if ba else None
            print(f"[{method}] Binding Update over {method}: Binding Acknowledgement status {status}")
            ok &= status == 0
            stop = threading.Event()
            responder = threading.Thread(target=mobile_router_answers, args=(method, stop))
            responder.start()
            time.sleep(0.5)
            ping = subprocess.run(["ip", "netns", "exec", "nemo-cn", "ping", "-6", "-c", "3", "-i", "0.3", "-W", "2",
                                   MNP_A + "5"], capture_output=True, text=True)
            stop.set()
            responder.join()
            summary = [line for line in ping.stdout.splitlines() if "packets transmitted" in line]
            print(f"[{method}] CN pings {MNP_A}5 behind the router: {summary[0] if summary else ping.stderr.strip()}")
            ok &= ping.returncode == 0
            show(ha, "show", "bindings")
        show(ha, "show", "binding", HOA)
        stats = ha.ctl_raw("show", "stats").stdout.splitlines()
        print("$ nemo-hactl show stats   (non-zero counters)")
        for line in stats:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit() and parts[1] != "0":
                print("  " + line)
        code = ha.stop()
        print(f"\nnemo-ha stopped (exit {code}); namespaces removed.")
    print("demo", "succeeded" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
