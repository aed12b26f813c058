"""The cluster topology: N nemo-ha instances (and the etcd members they share) in one namespace, each with
its own pair of links, scapy and raw sockets as the mobile routers and the correspondent.

    ${P}mr (routers' side)              ${P}ha (etcd members, nemo-ha 1..N)            ${P}cn (home link)
    mr1 198.51.100.10/24 ---------- ha1-acc | nemo-ha 1 | ha1-home ---------- cn1 2001:db8:1::cc/64
    mr2 198.51.100.10/24 ---------- ha2-acc | nemo-ha 2 | ha2-home ---------- cn2 2001:db8:1::cc/64
    mr3 198.51.100.10/24 ---------- ha3-acc | nemo-ha 3 | ha3-home ---------- cn3 2001:db8:1::cc/64

Every instance runs the built-in configuration: the same anycast IPv4 address 198.51.100.1, the same home
prefix 2001:db8:1::/64; a test picks an instance by the link it sends on (and that instance's MAC). The
access gateway of every instance is 198.51.100.10, which each mr{k} holds: whatever an instance tunnels
(care-of addresses are off link, in 100.64.0.0/10) comes out on its own access link, to mr{k}'s MAC.

P is NEMO_NS_PREFIX (default `ncl-`, not the single-instance tests' `nemo-`). Runs under /usr/bin/python3,
as root.
"""
import atexit
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

os.environ.setdefault("NEMO_NS_PREFIX", "ncl-")  # before nemo_harness reads it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frames import RawReceiver, mobility_header, raw_socket, tunneled  # noqa: E402,F401
import nemo_harness  # noqa: E402
from nemo_harness import (CN, HA4, ROOT, HomeAgent, binary, binding_update, mac_of, netns, ns_name,  # noqa: E402,F401
                          tunnel)
from procs import stop_process  # noqa: E402
from scapy.all import IP, raw  # noqa: E402

NS_PREFIX = nemo_harness.NS_PREFIX
HA_NS, MR_NS, CN_NS = "nemo-ha", "nemo-mr", "nemo-cn"   # as nemo_harness names them; ns_name() maps them
GATEWAY = "198.51.100.10"
HA4_B = socket.inet_aton(HA4)


def v6(b):
    return socket.inet_ntop(socket.AF_INET6, bytes(b))


def v6b(s):
    return socket.inet_pton(socket.AF_INET6, s)


# ---------------------------------------------------------------------------------------------------
# The topology.

def _sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def _leftover_pids(ns):
    """Processes of an earlier run still in namespace `ns` that this harness starts (nemo-ha, etcd)."""
    r = _sh("ip", "netns", "pids", ns, check=False)
    ours = {os.path.realpath(binary("nemo-ha")), "/usr/bin/etcd"}
    pids = []
    for pid in r.stdout.split():
        try:
            if os.path.realpath(f"/proc/{pid}/exe") in ours:
                pids.append(int(pid))
        except OSError:
            pass
    return pids


class ClusterTopology:
    """The namespaces and veth pairs above for `n` instances. up() first removes what a failed run left
    (its namespaces, with the nemo-ha and etcd processes still in them)."""

    def __init__(self, n=3):
        self.n = n
        self.names = [ns_name(x) for x in (MR_NS, HA_NS, CN_NS)]

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def down(self):
        for ns in self.names:
            if os.path.exists(f"/var/run/netns/{ns}"):
                for pid in _leftover_pids(ns):
                    print(f"topology: killing leftover process {pid} in {ns}", flush=True)
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                _sh("ip", "netns", "del", ns, check=False)

    def up(self):
        self.down()
        mr, ha, cn = self.names
        for ns in self.names:
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        # The HA's side carries no kernel addresses (DPDK owns the interfaces); the access side is IPv4 only.
        for ns in (ha, mr):
            _sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1")
        for k in range(1, self.n + 1):
            # DPDK's net_af_packet joins each port's sockets to the fanout group (pid ^ ifindex) & 0xffff;
            # two instances whose groups collide (on different interfaces) fail to start (EINVAL). Each
            # instance's interfaces get indexes in a 4096 block of its own: a collision then needs pids
            # about 4096 apart in just that pattern, not two processes started one after the other.
            _sh("ip", "link", "add", f"ha{k}-acc", "index", str((k << 12) + 1), "netns", ha, "type", "veth",
                "peer", "name", f"mr{k}", "netns", mr)
            _sh("ip", "link", "add", f"ha{k}-home", "index", str((k << 12) + 2), "netns", ha, "type", "veth",
                "peer", "name", f"cn{k}", "netns", cn)
            for i in (f"ha{k}-acc", f"ha{k}-home"):
                _sh("ip", "-n", ha, "link", "set", i, "up")
            _sh("ip", "-n", mr, "addr", "add", f"{GATEWAY}/24", "dev", f"mr{k}")
            _sh("ip", "-n", mr, "link", "set", f"mr{k}", "up")
            _sh("ip", "-n", cn, "-6", "addr", "add", f"{CN}/64", "dev", f"cn{k}", "nodad")
            _sh("ip", "-n", cn, "link", "set", f"cn{k}", "up")


class Link:
    """One side of instance k's links: the test namespace, its interface, and the HA's interface."""

    def __init__(self, ns, iface, ha_iface):
        self.ns, self.iface, self.ha_iface = ns, iface, ha_iface
        self._macs = None

    def macs(self):
        """(the HA interface's MAC, the test interface's MAC) as bytes."""
        if self._macs is None:
            self._macs = tuple(bytes.fromhex(mac_of(ns, i).replace(":", ""))
                               for ns, i in ((HA_NS, self.ha_iface), (self.ns, self.iface)))
        return self._macs

    def __repr__(self):
        return f"{self.iface}<->{self.ha_iface}"


def access(k):
    return Link(MR_NS, f"mr{k}", f"ha{k}-acc")


def home(k):
    return Link(CN_NS, f"cn{k}", f"ha{k}-home")


# ---------------------------------------------------------------------------------------------------
# nemo-ha instances.

def default_eal_args():
    """The built-in configuration's [eal] args (dataplane/daemon/default_config.hpp)."""
    with open(os.path.join(ROOT, "dataplane", "daemon", "default_config.hpp")) as f:
        text = f.read()
    m = re.search(r"^\[eal\]\nargs = (.*)$", text, re.M)
    if not m:
        raise RuntimeError("no [eal] args in default_config.hpp")
    return m.group(1)


def eal_args(k):
    """The built-in EAL arguments with instance k's file prefix and veths."""
    args = [a for a in default_eal_args().split() if not a.startswith(("--file-prefix=", "--vdev="))]
    return " ".join(args + [f"--file-prefix=nemo-cl{k}", f"--vdev=net_af_packet0,iface=ha{k}-acc,qpairs=1",
                            f"--vdev=net_af_packet1,iface=ha{k}-home,qpairs=1"])


_LIVE = set()


@atexit.register
def _stop_leftovers():
    for inst in list(_LIVE):
        if inst.proc is not None:
            stop_process(inst.proc, timeout=5)


class ClusterInstance(HomeAgent):
    """nemo-ha instance k (1-based) in the HA namespace on its own links, on the built-in configuration
    plus overrides. With `etcd` (an EtcdCluster) it joins cluster `cluster` as instance `ha{k}`; without,
    it keeps its own state (the default backend). max_txn_ops: state.etcd_max_txn_ops (default: what the
    etcd members allow)."""

    def __init__(self, k, *overrides, etcd=None, cluster="ncl", state_dir=None, max_txn_ops=None):
        self.k = k
        self.name = f"ha{k}"
        self.cluster = cluster
        mine = [f"--eal.args={eal_args(k)}", f"--access.gateway={GATEWAY}"]
        if etcd is not None:
            mine += ["--state.backend=etcd",
                     "--state.etcd_endpoints=" + ",".join(etcd.endpoints()),
                     f"--state.cluster={cluster}", f"--state.instance={self.name}",
                     "--state.etcd_timeout_ms=2000",
                     f"--state.etcd_max_txn_ops={max_txn_ops or etcd.max_txn_ops}"]
        super().__init__(*mine, *overrides, state_dir=state_dir)
        self.access, self.home = access(k), home(k)

    killed = False  # set by kill(): the test ended it, its exit status says nothing

    def start(self, wait=True):
        _LIVE.add(self)
        self.killed = False
        return super().start(wait=wait)

    def kill(self):
        self.killed = True
        return super().kill()

    def crashed(self):
        """The exit status if the process ended without the test ending it, else None."""
        if self.proc is None or self.killed:
            return None
        return self.proc.poll()

    def stop(self):
        code = super().stop()
        _LIVE.discard(self)
        return code

    def show_cluster(self):
        return self.ctl("show", "cluster")

    def state(self):
        return self.ctl("show", "state")


# ---------------------------------------------------------------------------------------------------
# Raw sockets on the test namespaces' interfaces.

class Sender:
    """Frames from a Link's test interface straight to the HA's interface."""

    def __init__(self, link):
        self.link = link
        with netns(link.ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((link.iface, 0))
        dst, src = link.macs()
        self.eth = dst + src

    def frame(self, pkt):
        return self.eth + (b"\x08\x00" if isinstance(pkt, IP) else b"\x86\xdd") + raw(pkt)

    def send(self, pkt_or_frame):
        self.sock.send(pkt_or_frame if isinstance(pkt_or_frame, (bytes, bytearray)) else self.frame(pkt_or_frame))

    def close(self):
        self.sock.close()


class Capture(RawReceiver):
    """Every frame arriving at a Link's test interface (not those sent from it), kept with its arrival
    time until close(); find()/wait() look through them."""

    def __init__(self, link):
        self.link = link
        self.lock = threading.Lock()
        self.frames = []
        with netns(link.ns):
            sock = raw_socket(link.iface, 16 << 20)
        super().__init__(sock, self.keep)

    def keep(self, frame, at):
        with self.lock:
            self.frames.append((at, frame))

    def mark(self):
        """A position: find() after it sees only frames that arrived later."""
        with self.lock:
            return len(self.frames)

    def find(self, parse, since=0):
        """[parse(frame)] of the frames since `since` for which it is not None."""
        with self.lock:
            frames = self.frames[since:]
        out = []
        for _, f in frames:
            v = parse(f)
            if v is not None:
                out.append(v)
        return out

    def wait(self, parse, since=0, count=1, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            got = self.find(parse, since)
            if len(got) >= count or time.time() >= deadline:
                return got
            time.sleep(0.02)


# ---------------------------------------------------------------------------------------------------
# What the HA sends, parsed from raw frames.

def binding_ack(frame):
    """(home address, status, sequence number, outer destination, UDP port) of a BA the HA sent through
    an IPv4 tunnel, or None."""
    t = tunneled(frame)
    if not t:
        return None
    mh = mobility_header(t[3])
    if not mh or mh[1][2] != 6:
        return None
    return mh[0], mh[1][6], struct.unpack("!H", mh[1][8:10])[0], t[0], t[2]


def ipv6_from(frame, src):
    """The IPv6 packet (bytes) of a frame from address `src` (bytes), or None."""
    if frame[12:14] == b"\x86\xdd" and len(frame) >= 54 and frame[22:38] == src:
        plen = struct.unpack("!H", frame[18:20])[0]
        return bytes(frame[14:14 + 40 + plen])
    return None


def with_hlim(pkt_bytes, hlim):
    b = bytearray(pkt_bytes)
    b[7] = hlim
    return bytes(b)


# ---------------------------------------------------------------------------------------------------
# Mobile routers.

class Router:
    """A mobile router: home address, one /48 mobile network prefix, a method (ipip, gre, udp) and an
    off-link care-of address (reached through the access gateway); no NAT (the outer source is the
    care-of address, and for udp the source port the care-of port)."""

    def __init__(self, i, method, hoa=None, prefix=None, coa=None, port=5555, seq=1000):
        self.i = i
        self.hoa = hoa or f"2001:db8:1::a:{i + 1:x}"
        self.prefix = prefix or f"2001:db8:{0x4000 + i:x}::"
        self.method = method
        self.coa = coa or f"100.64.{i // 250}.{i % 250 + 1}"
        self.port = port
        self.seq = seq

    def line(self):
        return f"{self.hoa} router prefixes={self.prefix}/48"

    def host(self, last=5):
        return self.prefix + f"{last:x}"

    def bu(self, seq=None, port=None, lifetime=100):
        """The BU (an IPv4 packet in the router's tunnel) with sequence number `seq` (default: self.seq)."""
        port = self.port if port is None else port
        seq = self.seq if seq is None else seq
        inner = binding_update(seq, self.method, lifetime=lifetime, coa=self.coa, port=port,
                               prefixes=(self.prefix,), hoa=self.hoa)
        return tunnel(self.method, inner, self.coa, port)

    def up_packet(self, inner, port=None):
        """`inner` (an IPv6 packet from the mobile network) in the router's tunnel."""
        return tunnel(self.method, inner, self.coa, self.port if port is None else port)


def write_provisioning(path, routers):
    with open(path, "w") as f:
        f.write("# the cluster test's mobile routers\n")
        for r in routers:
            f.write(r.line() + "\n")


def wait_for(what, get, ok, timeout, interval=0.1):
    """Calls get() until ok(value) or `timeout` s; returns (value, seconds) or raises AssertionError
    naming `what` and the last value."""
    start = time.time()
    deadline = start + timeout
    value = None
    while True:
        try:
            value = get()
        except Exception as e:  # an instance not answering yet counts as "not yet"
            value = e
        if not isinstance(value, Exception) and ok(value):
            return value, time.time() - start
        if time.time() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last: {str(value)[:2000]}")
        time.sleep(interval)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)[:3000]
