"""Test harness for nemo-ha on DPDK virtual devices in network namespaces (scripts/topology.sh):
the real daemon in nemo-ha, scapy as the mobile router in nemo-mr and as the correspondent in nemo-cn.

Runs under /usr/bin/python3 (Debian's scapy), as root.
"""
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from scapy.all import GRE, IP, UDP, AsyncSniffer, Ether, IPv6, conf, raw, sendp  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU, MIP6OptMobNetPrefix  # noqa: E402

from nemo_scapy import BU_A, BU_H, BU_R, V4_I, V4_R, V4_U, MIP6OptIPv4CoA  # noqa: E402,F401
from procs import stop_process  # noqa: E402

conf.verb = 0

HA4 = "198.51.100.1"
HA6 = "2001:db8:1::1"
COA = "198.51.100.10"
NAT = "198.51.100.20"
CN = "2001:db8:1::cc"
HOA = "2001:db8:1::100"
MNP_A = "2001:db8:aaaa::"
MNP_B = "2001:db8:bbbb::"
ANYCAST = "2001:db8:1::fdff:ffff:ffff:fffe"

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000


# The topology's namespaces are nemo-mr, nemo-ha and nemo-cn; NEMO_NS_PREFIX (scripts/topology.sh reads it
# too) renames them, so that two test runs on one machine do not share namespaces. Tests name them by their
# default names; every place that hands a name to the system goes through ns_name().
NS_PREFIX = os.environ.get("NEMO_NS_PREFIX", "nemo-")


def ns_name(name):
    return NS_PREFIX + name[len("nemo-"):] if name.startswith("nemo-") else name


@contextlib.contextmanager
def netns(name):
    """Runs the block (and threads it starts) in network namespace `name`."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns_name(name)}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        _libc.setns(back, _CLONE_NEWNET)
        os.close(back)
        os.close(target)


def build_dir():
    return os.environ.get("NEMO_BUILD_DIR", os.path.join(ROOT, "build"))


def binary(name):
    sub = {"nemo-ha": "dataplane/daemon", "nemo-hactl": "control"}[name]
    return os.path.join(build_dir(), sub, name)


class Topology:
    def __enter__(self):
        subprocess.run([os.path.join(ROOT, "scripts", "topology.sh"), "up"], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run([os.path.join(ROOT, "scripts", "topology.sh"), "down"], check=False)


class HomeAgent:
    """nemo-ha running in nemo-ha on the built-in configuration, with overrides given as
    --section.key=value options.

    Its durable state lives in `state_dir`: by default a directory of its own, removed with it, so that
    no test restores another's bindings; pass one to keep state across HomeAgents. The same object can
    also be killed (kill(): SIGKILL, nothing flushed) or stopped and started again (restart())."""

    def __init__(self, *overrides, state_dir=None):
        self.dir = tempfile.mkdtemp(prefix="nemo-ha-test-")
        self.socket = os.path.join(self.dir, "cli.sock")
        self.log = os.path.join(self.dir, "nemo-ha.log")
        self.overrides = list(overrides)
        self.state_dir = state_dir or os.path.join(self.dir, "state")
        self.proc = None
        self.started_at = None  # time.time() just before the latest start
        self.log_offset = 0     # where the latest start's output begins in self.log

    def args(self):
        args = [binary("nemo-ha"), f"--cli.socket={self.socket}"]
        if not any(o.startswith("--state.dir=") for o in self.overrides):
            args.append(f"--state.dir={self.state_dir}")
        return ["ip", "netns", "exec", ns_name("nemo-ha"), *args, *self.overrides]

    def __enter__(self):
        return self.start()

    def start(self, wait=True):
        """Starts nemo-ha (appending to its log); with `wait`, returns once its CLI answers."""
        args = self.args()
        self.log_offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        with open(self.log, "a") as log:
            self.started_at = time.time()
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nemo-ha exited with {self.proc.returncode}:\n{self.output()}")
            if os.path.exists(self.socket) and self.ctl_raw("show", "version").returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("nemo-ha did not come up:\n" + self.output())

    def output(self):
        """What the latest start printed so far."""
        with open(self.log) as f:
            f.seek(self.log_offset)
            return f.read()

    def __exit__(self, *exc):
        if self.stop() == 0 and exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)  # kept, with its log, when anything went wrong

    def stop(self):
        return stop_process(self.proc)

    def kill(self):
        """SIGKILL: a crash, nothing flushed on the way out."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return self.proc.returncode

    def restart(self, how=signal.SIGKILL, wait=True):
        """Ends nemo-ha with `how` (SIGKILL or SIGTERM, which must then exit 0) and starts it again on the
        same state directory."""
        if how == signal.SIGKILL:
            self.kill()
        else:
            code = self.stop()
            if code != 0:
                raise RuntimeError(f"nemo-ha did not stop cleanly: {code}\n{self.output()}")
        return self.start(wait=wait)

    def ctl_raw(self, *args):
        return subprocess.run([binary("nemo-hactl"), "-s", self.socket, *args], capture_output=True, text=True)

    def ctl(self, *args):
        r = self.ctl_raw("--json", *args)
        if r.returncode != 0:
            raise RuntimeError(f"nemo-hactl {' '.join(args)}: {r.stderr}")
        return json.loads(r.stdout)

    def stats(self):
        s = self.ctl("show", "stats")
        merged = dict(s["counters"])
        merged.update({"dataplane." + k: v for k, v in s["dataplane"].items()})
        return merged

    def bindings(self, limit=1000):
        return {b["hoa"]: b for b in self.ctl("show", "bindings", "limit", str(limit))["bindings"]}


def tunnel(method, inner, outer_src=COA, sport=5555):
    """The IPv4 packet a mobile router sends: `inner` (an IPv6 packet) in the tunnel of `method`."""
    if method == "ipip":
        return IP(src=outer_src, dst=HA4) / inner
    if method == "gre":
        return IP(src=outer_src, dst=HA4) / GRE(proto=0x86DD) / inner
    if method == "udp":
        return IP(src=outer_src, dst=HA4) / UDP(sport=sport, dport=4191) / inner
    raise ValueError(method)


def tunnel_filter(method):
    return {"ipip": "ip proto 41", "gre": "ip proto 47", "udp": "udp and src port 4191"}[method]


def inner_of(pkt, method):
    """The IPv6 packet inside a tunneled IPv4 packet that scapy captured."""
    if method == "udp":
        return IPv6(raw(pkt[UDP].payload))
    if method == "gre":
        return pkt[GRE].payload
    return pkt[IP].payload


FLAGS = {"ipip": V4_I, "gre": V4_R, "udp": V4_U}


def binding_update(seq, method, lifetime=100, coa=COA, port=5555, prefixes=(MNP_A,), flags=BU_A | BU_H | BU_R,
                   hoa=HOA, extra_options=()):
    opts = [MIP6OptIPv4CoA(flags=FLAGS[method] if isinstance(method, str) else method, port=port, coa=coa)]
    opts += [MIP6OptMobNetPrefix(plen=48, prefix=p) for p in prefixes]
    opts += list(extra_options)
    return IPv6(src=hoa, dst=HA6) / MIP6MH_BU(seq=seq, flags=flags, mhtime=lifetime, options=opts)


def mac_of(ns, iface):
    out = subprocess.run(["ip", "-j", "-n", ns_name(ns), "link", "show", iface], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]["address"]


# Which HA interface faces each test namespace.
SIDES = {"nemo-mr": ("mr0", "ha-acc"), "nemo-cn": ("cn0", "ha-home")}


def send_from(ns, pkt):
    """Sends an IP or IPv6 packet from `ns` straight to the HA's interface on that link."""
    send_many(ns, [pkt])


def send_many(ns, pkts):
    """The same for a list of packets, sent back to back."""
    iface, ha_iface = SIDES[ns]
    src, dst = mac_of(ns, iface), mac_of("nemo-ha", ha_iface)
    with netns(ns):
        sendp([Ether(src=src, dst=dst) / p for p in pkts], iface=iface)


def start_sniffer(ns, **kw):
    """An AsyncSniffer (scapy's arguments) started in namespace `ns`, returned once its socket is open
    (scapy's started_callback): on a loaded machine its thread may take longer than any fixed pause to
    start, and what it misses looks like a packet the HA never sent."""
    started = threading.Event()
    with netns(ns):
        sniffer = AsyncSniffer(started_callback=started.set, **kw)
        sniffer.start()
        started.wait(10)
    return sniffer


def exchange(send_pkt, sniff_filter, lfilter=None, count=1, timeout=3, ns="nemo-mr"):
    """Sends `send_pkt` from `ns` to the HA and returns what was captured there meanwhile."""
    sniffer = start_sniffer(ns, iface=SIDES[ns][0], filter=sniff_filter, lfilter=lfilter, count=count, timeout=timeout)
    if send_pkt is not None:
        send_from(ns, send_pkt)
    sniffer.join()
    return list(sniffer.results or [])


def carries(method, layer):
    def check(p):
        try:
            return inner_of(p, method).haslayer(layer)
        except Exception:
            return False
    return check


def register(method, seq, transport=None, **kw):
    """Registers with the IPv4 CoA option asking for `method`, sending over `transport` (default: the
    same method). Returns (outer packet, inner IPv6 packet with the BA), or (None, None)."""
    transport = transport or method
    outer_src = kw.pop("outer_src", COA)
    sport = kw.pop("sport", 5555)
    bu = binding_update(seq, method, **kw)
    got = exchange(tunnel(transport, bu, outer_src, sport), tunnel_filter(transport),
                   lfilter=carries(transport, MIP6MH_BA))
    if not got:
        return None, None
    return got[0], inner_of(got[0], transport)


