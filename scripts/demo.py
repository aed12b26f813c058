#!/usr/bin/python3
"""The nemo-ha demo: nemo-mr, the mobile router, on an IPv4-only access network registers with nemo-ha
over each IPv4 tunnel method in turn (I: IPv6-in-IPv4, R: GRE, U: UDP, and U again behind a NAT made
with nftables), and a host in the router's mobile network pings the correspondent node on the home link
and runs an iperf3 TCP transfer to it, through the router's TUN, the tunnel and the home agent.

    host (2001:db8:aaaa::10) -- veth -- mr [nemo-mr, TUN mnp0] -- mr0 IPv4 -- nemo-ha -- cn (2001:db8:1::cc)

Namespaces: those of scripts/topology.sh (NEMO_NS_PREFIX, default nemo-) plus ${P}host. nemo-ha runs its
built-in configuration (the router 2001:db8:1::100 with 2001:db8:aaaa::/48 and 2001:db8:bbbb::/48 is
provisioned there), its CLI socket and state in a directory of the demo's own. Every router is stopped
with `nemo-mr stop` (de-registration) before the next method. Everything is torn down at the end, also on
failure or Ctrl-C. No scapy.

    scripts/demo.sh      (as root; installs and builds first; this script expects a built tree)
    /usr/bin/python3 scripts/demo.py [--methods ipip,gre,udp,udp-nat] [--iperf-seconds 3] [--ha-option=--ha.x=y]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from procs import stop_process  # noqa: E402  (no scapy in it)

HA4 = "198.51.100.1"
HA6 = "2001:db8:1::1"
CN = "2001:db8:1::cc"
HOA = "2001:db8:1::100"
PREFIXES = ("2001:db8:aaaa::/48", "2001:db8:bbbb::/48")  # as the built-in configuration provisions them
MR_LAN = "2001:db8:aaaa::1"   # the router's address on the host's link
HOST = "2001:db8:aaaa::10"    # the host in the mobile network
TUN = "mnp0"
METHODS = ("ipip", "gre", "udp", "udp-nat")
NAT_PORT = 7000
NAT_TABLE = "nemo_demo_nat"
# The simulated NAT in the router's namespace: the router's 198.51.100.10 leaves as 198.51.100.20, UDP
# from port 7000 (what a home router in front of it would do).
NAT_RULES = f"""
table ip {NAT_TABLE} {{
    chain post {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "mr0" ip saddr 198.51.100.10 ip protocol udp snat to 198.51.100.20:{NAT_PORT}
        oifname "mr0" ip saddr 198.51.100.10 snat to 198.51.100.20
    }}
}}
"""
LABEL = {"ipip": "I  (IPv6-in-IPv4)", "gre": "R  (GRE)", "udp": "U  (UDP 4191)", "udp-nat": "U  behind a NAT"}


class DemoError(Exception):
    pass


P = os.environ.get("NEMO_NS_PREFIX", "nemo-")


def ns(name):
    return P + name


def build_dir():
    return os.environ.get("NEMO_BUILD_DIR", os.path.join(ROOT, "build"))


def binary(sub, name):
    path = os.path.join(build_dir(), sub, name)
    if not os.access(path, os.X_OK):
        raise DemoError(f"{path} is missing: build first (scripts/demo.sh does)")
    return path


def run(*args, check=True, timeout=30, input=None):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise DemoError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def in_ns(name, *args, **kw):
    return run("ip", "netns", "exec", ns(name), *args, **kw)


def wait_for(what, check, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise DemoError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


class Demo:
    """Owns every namespace and process the demo makes; close() undoes all of them, whatever happened."""

    def __init__(self, iperf_seconds, ha_options=()):
        self.ha_options = list(ha_options)
        self.dir = tempfile.mkdtemp(prefix=f"nemo-demo-{P}")  # in every process's arguments: findable
        self.iperf_seconds = iperf_seconds
        self.procs = []          # (name, Popen), stopped in reverse order
        self.ha_socket = os.path.join(self.dir, "cli.sock")
        self.mr_socket = os.path.join(self.dir, "mr.sock")
        self.state_file = os.path.join(self.dir, "mr.seq")
        self.ha_proc = None
        self.mr_proc = None
        self.topology_up = False
        self.keep_dir = False

    # --- set-up -------------------------------------------------------------------------------------
    def up(self):
        self.topology_up = True
        run(os.path.join(ROOT, "scripts", "topology.sh"), "up")
        run("ip", "netns", "add", ns("host"))
        in_ns("host", "ip", "link", "set", "lo", "up")
        # The mobile network: the host behind the router on a veth, the router forwarding between it and
        # nemo-mr's TUN (everything not on the link goes into the TUN, hence into the tunnel). The
        # router's namespace has IPv6 off by default (its access network is IPv4 only): on for these two.
        run("ip", "link", "add", "lan0", "netns", ns("mr"), "type", "veth", "peer", "name", "eth0", "netns", ns("host"))
        in_ns("mr", "ip", "tuntap", "add", "dev", TUN, "mode", "tun")
        for dev in ("lan0", TUN):
            in_ns("mr", "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=0")
        in_ns("mr", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        # nemo-mr sets its TUN's MTU to 1400 (room for the tunnel headers): the same on the host's link.
        for name, dev in (("mr", "lan0"), ("host", "eth0")):
            in_ns(name, "ip", "link", "set", dev, "mtu", "1400", "up")
        in_ns("mr", "ip", "link", "set", TUN, "up")
        in_ns("mr", "ip", "-6", "addr", "add", MR_LAN + "/64", "dev", "lan0", "nodad")
        in_ns("mr", "ip", "-6", "route", "add", "default", "dev", TUN)
        in_ns("host", "ip", "-6", "addr", "add", HOST + "/64", "dev", "eth0", "nodad")
        in_ns("host", "ip", "-6", "route", "add", "default", "via", MR_LAN, "dev", "eth0")
        # The CN's veth would hand its TCP segments to nemo-ha's AF_PACKET port with the checksum left to
        # an offload that never happens (and as TSO super-packets): the CN computes its own checksums.
        in_ns("cn", "ethtool", "-K", "cn0", "tx", "off")

        log = open(os.path.join(self.dir, "nemo-ha.log"), "w")
        self.ha_proc = self.start("nemo-ha", ["ip", "netns", "exec", ns("ha"), binary("dataplane/daemon", "nemo-ha"),
                                              f"--cli.socket={self.ha_socket}",
                                              f"--state.dir={os.path.join(self.dir, 'ha-state')}", *self.ha_options], log)
        wait_for("nemo-ha's CLI", lambda: self.alive(self.ha_proc, "nemo-ha") and os.path.exists(self.ha_socket)
                 and self.hactl("show", "version", check=False).returncode == 0, timeout=30)
        log = os.path.join(self.dir, "iperf3-server.log")
        self.start("iperf3 server", ["ip", "netns", "exec", ns("cn"), "iperf3", "-s", "-B", CN, "--logfile", log],
                   open(os.devnull, "w"))

    def start(self, name, args, log):
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append((name, proc))
        return proc

    def alive(self, proc, name):
        if proc.poll() is not None:
            raise DemoError(f"{name} exited with {proc.returncode}; its log: {self.log_of(name)}")
        return True

    def log_of(self, name):
        self.keep_dir = True
        return os.path.join(self.dir, name.replace(" ", "-") + ".log")

    # --- the tools ----------------------------------------------------------------------------------
    def hactl(self, *args, check=True):
        return run(binary("control", "nemo-hactl"), "-s", self.ha_socket, *args, check=check)

    def bindings(self):
        out = json.loads(self.hactl("--json", "show", "bindings").stdout)
        return {b["hoa"]: b for b in out["bindings"]}

    def mr_status(self):
        r = in_ns("mr", binary("control/mr", "nemo-mr"), "status", "--socket", self.mr_socket, "--json", check=False)
        return json.loads(r.stdout)["routers"][0] if r.returncode == 0 else None

    # --- one method ---------------------------------------------------------------------------------
    def start_mr(self, method):
        args = ["ip", "netns", "exec", ns("mr"), binary("control/mr", "nemo-mr"), "--interface", "mr0",
                "--home-address", HOA, *[a for p in PREFIXES for a in ("--prefix", p)], "--ha6", HA6, "--ha4", HA4,
                "--methods", method, "--tun", TUN, "--socket", self.mr_socket, "--state-file", self.state_file,
                "--stop-timeout", "3"]
        print("$ nemo-mr " + " ".join(args[5:]))
        self.mr_proc = self.start("nemo-mr", args, open(os.path.join(self.dir, "nemo-mr.log"), "a"))

        def registered():
            self.alive(self.mr_proc, "nemo-mr")
            st = self.mr_status() if os.path.exists(self.mr_socket) else None
            if st and st["phase"] in ("no-method", "legacy-ha"):
                raise DemoError(f"nemo-mr gave up: {st['phase']}, last status {st.get('last_status_name')}")
            return st if st and st["phase"] == "registered" and st["tunnel_up"] else None
        return wait_for(f"nemo-mr registered over {method} (nemo-mr status)", registered, timeout=15)

    def stop_mr(self):
        """`nemo-mr stop`: de-registration (lifetime 0), then it exits; the binding is gone."""
        proc, self.mr_proc = self.mr_proc, None
        r = in_ns("mr", binary("control/mr", "nemo-mr"), "stop", "--socket", self.mr_socket, check=False)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = stop_process(proc)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]
        if r.returncode != 0 or code != 0:
            raise DemoError(f"nemo-mr stop: {r.returncode} {r.stderr.strip()}, exit {code}; log {self.log_of('nemo-mr')}")
        wait_for("the binding gone after nemo-mr stop", lambda: HOA not in self.bindings(), timeout=5)

    def ping(self):
        r = in_ns("host", "ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", CN, check=False, timeout=20)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
        rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", r.stdout)
        sent, got = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        return {"sent": sent, "received": got, "loss": 100.0 * (sent - got) / sent if sent else 100.0,
                "rtt": tuple(float(x) for x in rtt.groups()) if rtt else None}

    def iperf(self):
        r = in_ns("host", "iperf3", "-6", "-c", CN, "-t", str(self.iperf_seconds), "-J", "--connect-timeout", "3000",
                  check=False, timeout=self.iperf_seconds + 20)
        try:
            j = json.loads(r.stdout)
        except ValueError:
            return {"error": (r.stderr or r.stdout).strip() or f"exit {r.returncode}"}
        if "error" in j:
            return {"error": j["error"]}
        sent, recv = j["end"]["sum_sent"], j["end"]["sum_received"]
        return {"sender_mbps": sent["bits_per_second"] / 1e6, "receiver_mbps": recv["bits_per_second"] / 1e6,
                "bytes": int(recv["bytes"]), "retransmits": int(sent.get("retransmits", 0))}

    def one_method(self, name):
        method = "udp" if name == "udp-nat" else name
        if name == "udp-nat":
            in_ns("mr", "nft", "-f", "-", input=NAT_RULES)
            print(f"$ nft: the router's namespace SNATs 198.51.100.10 to 198.51.100.20 (UDP from port {NAT_PORT})")
        try:
            t0 = time.time()
            st = self.start_mr(method)
            print(f"registered in {time.time() - t0:.1f} s: method {st['method']}, care-of {st['care_of_address']}, "
                  f"lifetime {st['lifetime_left_s']} s, behind a NAT (nemo-mr status): {'yes' if st.get('behind_nat') else 'no'}")
            ping = self.ping()
            if ping["rtt"]:
                print(f"ping {HOST} -> {CN}: {ping['received']}/{ping['sent']} answered ({ping['loss']:.0f} % loss), "
                      "rtt min/avg/max {:.3f}/{:.3f}/{:.3f} ms".format(*ping["rtt"]))
            else:
                print(f"ping {HOST} -> {CN}: {ping['received']}/{ping['sent']} answered")
            ip = self.iperf()
            if "error" in ip:
                print(f"iperf3 {HOST} -> {CN}: error: {ip['error']}")
            else:
                print(f"iperf3 TCP {HOST} -> {CN}, {self.iperf_seconds} s: sender {ip['sender_mbps']:.1f} Mbit/s, "
                      f"receiver {ip['receiver_mbps']:.1f} Mbit/s, {ip['bytes']} bytes, {ip['retransmits']} retransmits")
            b = self.bindings().get(HOA)
            print("$ nemo-hactl show bindings")
            print(self.hactl("show", "bindings").stdout.rstrip())
            if b and b.get("behind_nat"):
                print(f"the HA sees the router behind a NAT at {b['peer']}:{b['peer_port']} "
                      f"(its care-of address {b['care_of']})")
            self.stop_mr()
            print("$ nemo-mr stop   (de-registered: the binding is gone)")
        finally:
            if name == "udp-nat":
                in_ns("mr", "nft", "delete", "table", "ip", NAT_TABLE, check=False)
        ok = (ping["received"] > 0 and ip.get("bytes", 0) > 0 and b is not None and b["method"] == method
              and (name != "udp-nat" or (b.get("behind_nat") and b.get("peer_port") == NAT_PORT)))
        return {"name": name, "ok": bool(ok), "ping": ping, "iperf": ip, "binding": b}

    # --- tear-down ----------------------------------------------------------------------------------
    def close(self):
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.mr_proc is not None and self.mr_proc.poll() is None and os.path.exists(self.mr_socket):
            # A clean stop if we can (de-registration), SIGTERM (the same) otherwise.
            in_ns("mr", binary("control/mr", "nemo-mr"), "stop", "--socket", self.mr_socket, check=False)
            try:
                self.mr_proc.wait(timeout=12)
            except subprocess.TimeoutExpired:
                pass
        for _, proc in reversed(self.procs):
            stop_process(proc)
        if self.topology_up:
            run("ip", "netns", "del", ns("host"), check=False)
            run(os.path.join(ROOT, "scripts", "topology.sh"), "down", check=False)
        if self.keep_dir:
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def summary(results):
    print("\nsummary")
    head = f"{'method':<18} {'ping':>5} {'rtt avg ms':>10} {'Mbit/s snd/rcv':>15} {'MB':>7} {'retr':>5}  {'binding':<28} result"
    print(head)
    print("-" * len(head))
    for r in results:
        p, ip, b = r["ping"], r["iperf"], r["binding"]
        rtt = f"{p['rtt'][1]:.2f}" if p["rtt"] else "-"
        mbps = f"{ip['sender_mbps']:.0f}/{ip['receiver_mbps']:.0f}" if "bytes" in ip else "error"
        mb = f"{ip['bytes'] / 1e6:.1f}" if "bytes" in ip else "-"
        retr = str(ip["retransmits"]) if "bytes" in ip else "-"
        bind = "none"
        if b:
            bind = b["method"] + (f" via {b['peer']}:{b['peer_port']}" if b.get("behind_nat") else f" from {b['care_of']}")
        print(f"{LABEL.get(r['name'], r['name']):<18} {p['received']}/{p['sent']:<3} {rtt:>10} {mbps:>15} {mb:>7} "
              f"{retr:>5}  {bind:<28} {'PASS' if r['ok'] else 'FAIL'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated, in order, from ipip, gre, udp, udp-nat (default: all four)")
    ap.add_argument("--iperf-seconds", type=int, default=3)
    ap.add_argument("--ha-option", action="append", default=[], metavar="--SECTION.KEY=VALUE",
                    help="an override for nemo-ha's built-in configuration (tests: break the demo on purpose)")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("the demo builds network namespaces: run it as root")
    methods = [m for m in a.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            sys.exit(f"unknown method {m!r} (one of {', '.join(METHODS)})")
    if "udp-nat" in methods and not shutil.which("nft"):
        sys.exit("the NAT step needs nft (Debian nftables): apt-get install nftables")
    for tool in ("iperf3", "ethtool"):
        if not shutil.which(tool):
            sys.exit(f"the demo needs {tool} (Debian {tool}): apt-get install {tool}")

    # Ctrl-C and SIGTERM end the demo through its clean-up.
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # also when started with SIGINT ignored (a background job)

    demo = Demo(a.iperf_seconds, a.ha_option)
    results, failure = [], None
    start = time.time()
    try:
        demo.up()
        print(f"nemo-ha is up in {ns('ha')} (built-in configuration: HA {HA4} / {HA6}); "
              f"nemo-mr runs in {ns('mr')}, the host {HOST} in {ns('host')}, the CN {CN} in {ns('cn')}")
        for m in methods:
            print(f"\n=== {LABEL[m]} ===")
            try:
                results.append(demo.one_method(m))
            except DemoError as e:
                print(f"[{m}] FAILED: {e}")
                results.append({"name": m, "ok": False, "ping": {"sent": 0, "received": 0, "rtt": None},
                                "iperf": {"error": str(e)}, "binding": None})
                if demo.mr_proc is not None:  # leave no router behind for the next method
                    stop_process(demo.mr_proc)
                    demo.procs = [(n, p) for n, p in demo.procs if p is not demo.mr_proc]
                    demo.mr_proc = None
                    demo.log_of("nemo-mr")
                if demo.ha_proc.poll() is not None:
                    raise DemoError(f"nemo-ha exited with {demo.ha_proc.returncode}; its log: {demo.log_of('nemo-ha')}")
    except DemoError as e:
        failure = str(e)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        demo.close()
    if results:
        summary(results)
    ok = failure is None and len(results) == len(methods) and all(r["ok"] for r in results)
    if failure:
        print(f"\ndemo stopped: {failure}")
    print(f"\ndemo {'succeeded' if ok else 'FAILED'} in {time.time() - start:.0f} s; namespaces and processes removed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
