#!/usr/bin/python3
"""nemo-ha's durable state (issue 11) end to end: the real daemon, SIGKILLed or stopped and started again
on the same state directory, with scapy and raw sockets as the mobile routers and the correspondent.

    /usr/bin/python3 tests/integration/test_restart.py   (as root) [-v] [TestClass.test_name]
    NEMO_CRASH_SEED=N repeats the crash test's random moments and moves.

What a restart must keep, checked on the wire and through nemo-hactl:
- every binding whose accepting BA a router saw, with that sequence number or a later one it sent, the
  care-of address and method of that BU, and its remaining lifetime; forwarding both ways at once,
  without a new BU (CrashRestart);
- outbound ESP sequence numbers: never one again that was sent before the crash (EspSequenceNumbers);
- the operator's add/del mr and add/del sa over the configuration (OperatorChanges).
"""
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frames import RawReceiver, key_file, mobility_header, raw_socket, tunneled  # noqa: E402
from nemo_harness import (CN, COA, HA4, HOA, MNP_A, SIDES, HomeAgent, Topology,  # noqa: E402
                          binding_update, exchange, mac_of, netns, send_from, tunnel)
from scapy.all import ESP, IP, UDP, IPv6, raw  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, MIP6MH_BA, MIP6MH_BU  # noqa: E402
from scapy.layers.ipsec import SecurityAssociation  # noqa: E402

TOPOLOGY = None


def setUpModule():
    global TOPOLOGY
    TOPOLOGY = Topology().__enter__()


def tearDownModule():
    TOPOLOGY.__exit__(None, None, None)


HA4_B = socket.inet_aton(HA4)
CN_B = socket.inet_pton(socket.AF_INET6, CN)
ACCESS_GW = "198.51.100.10"  # mr0's own address: every frame to a care-of address reaches the sniffers


def v6(b):
    return socket.inet_ntop(socket.AF_INET6, bytes(b))


def host_of(prefix):
    return str(ipaddress.IPv6Address(prefix) + 5)


# ---------------------------------------------------------------------------------------------------
# Raw sockets: scapy's sniffer and sendp cannot keep up with hundreds of routers on two shared cores.

class Capture(RawReceiver):
    """Every frame arriving at namespace `ns`'s test interface (not those sent from it), handed to
    on_frame(frame, time) on a thread of its own, until close()."""

    def __init__(self, ns, on_frame):
        with netns(ns):
            sock = raw_socket(SIDES[ns][0], 32 << 20)
        super().__init__(sock, on_frame)


class Sender:
    """Frames from namespace `ns` straight to the HA's interface on that link; receives nothing."""

    def __init__(self, ns):
        iface, ha_iface = SIDES[ns]
        with netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((iface, 0))
        self.eth = bytes.fromhex(mac_of("nemo-ha", ha_iface).replace(":", "")) + \
            bytes.fromhex(mac_of(ns, iface).replace(":", ""))

    def frame(self, pkt):
        """An IPv4 or IPv6 scapy packet as the Ethernet frame this sender sends."""
        return self.eth + (b"\x08\x00" if isinstance(pkt, IP) else b"\x86\xdd") + raw(pkt)

    def send(self, frame):
        self.sock.send(frame)

    def close(self):
        self.sock.close()


def binding_ack(frame):
    """(home address, status, sequence number) of a BA the HA sent through an IPv4 tunnel, or None."""
    t = tunneled(frame)
    if not t:
        return None
    mh = mobility_header(t[3])
    if not mh or mh[1][2] != 6:
        return None
    return mh[0], mh[1][6], struct.unpack("!H", mh[1][8:10])[0]


def ones_sum(a, b):
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


class BuTemplate:
    """One router's BU frame for one care-of address, built by scapy once with sequence number 0; a
    sequence number is then written in and the Mobility Header checksum adjusted (RFC 1624). The UDP
    checksum covers both changes, which cancel out."""

    def __init__(self, sender, pkt):
        self.frame = bytearray(sender.frame(pkt))
        self.mh = len(self.frame) - len(raw(pkt[MIP6MH_BU]))
        self.sum = ~struct.unpack("!H", self.frame[self.mh + 4:self.mh + 6])[0] & 0xFFFF

    def with_seq(self, seq):
        f = bytearray(self.frame)
        struct.pack_into("!HH", f, self.mh + 4, ~ones_sum(self.sum, seq) & 0xFFFF, seq)
        return bytes(f)


# ---------------------------------------------------------------------------------------------------
# The crash test's routers.

class Router:
    """A mobile router: its home address, one mobile network prefix and the ways it may register, each
    (method, care-of address, its port, outer source, outer source port). A router behind a NAT registers
    over UDP with a private care-of address; what the HA sees is the NAT's address and port, and a NAT
    may rebind those."""

    def __init__(self, i, kind, seq, hoa=None, prefix=None):
        a, b = i // 200, i % 200 + 1
        self.hoa = hoa or f"2001:db8:1::a:{i + 1:x}"
        self.prefix = prefix or f"2001:db8:{0x4000 + i:x}::"
        self.kind = kind
        if kind == "nat":
            private = f"10.0.{a}.{b}"
            self.ways = [("udp", private, 5555, f"100.{66 + k}.{a}.{b}", port)
                         for k in (0, 1) for port in (40000 + i, 50000 + i)]
        else:
            coas = (f"100.64.{a}.{b}", f"100.65.{a}.{b}")
            first = [(kind, coas[0], 5555, coas[0], 5555)]
            self.ways = first + [(m, c, 5555, c, 5555) for m in ("ipip", "gre", "udp") for c in coas
                                 if (m, c) != (kind, coas[0])]
        self.way = self.ways[0]
        self.seq = seq
        self.sent = {}  # sequence number -> (way, time sent)
        self.templates = {}

    def bu(self, sender, lifetime_units):
        self.seq += 1
        key = (self.way, lifetime_units)
        if key not in self.templates:
            method, coa, port, outer, sport = self.way
            pkt = tunnel(method, binding_update(0, method, lifetime=lifetime_units, coa=coa, port=port,
                                                prefixes=(self.prefix,), hoa=self.hoa), outer, sport)
            self.templates[key] = BuTemplate(sender, pkt)
        self.sent[self.seq] = (self.way, time.time())
        return self.templates[key].with_seq(self.seq)

    def moved(self, rng):
        self.way = rng.choice(self.ways)


class Refresher:
    """Sends BUs for `routers` round robin at `rate` a second, each with its next sequence number; now
    and then a router moves (another care-of address or method, or its NAT rebinds)."""

    def __init__(self, routers, rng, rate=200, move_probability=0.1, lifetime_units=75):
        self.routers = list(routers)
        self.rng = rng
        self.interval = 1.0 / rate
        self.move_probability = move_probability
        self.lifetime_units = lifetime_units
        self.sender = Sender("nemo-mr")
        self.lock = threading.Lock()
        self.active = False
        self.finished = False
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        turn = 0
        while not self.finished:
            with self.lock:
                if self.active and self.routers:
                    r = self.routers[turn % len(self.routers)]
                    turn += 1
                    if self.rng.random() < self.move_probability:
                        r.moved(self.rng)
                    self.sender.send(r.bu(self.sender, self.lifetime_units))
                    self.sent += 1
            time.sleep(self.interval)

    def resume(self):
        with self.lock:
            self.active = True

    def pause(self):
        """Returns once no BU is being sent, nor will be until resume()."""
        with self.lock:
            self.active = False

    def drop(self, routers):
        with self.lock:
            self.routers = [r for r in self.routers if r not in routers]

    def close(self):
        self.pause()
        self.finished = True
        self.thread.join()
        self.sender.close()


class BaRecorder:
    """Every BA on the mobile routers' link: the highest sequence number accepted (status < 128) per home
    address, and every rejection."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = {}
        self.accepted_at = {}
        self.rejected = []
        self.capture = Capture("nemo-mr", self.on_frame)

    def on_frame(self, frame, when):
        ba = binding_ack(frame)
        if not ba:
            return
        hoa, status, seq = ba
        with self.lock:
            if status < 128:
                if seq > self.accepted.get(hoa, -1):
                    self.accepted[hoa] = seq
                self.accepted_at[hoa] = when
            else:
                self.rejected.append(ba)

    def snapshot(self):
        with self.lock:
            return dict(self.accepted), list(self.rejected)

    def close(self):
        self.capture.close()


class FirstForward:
    """From before a start: a packet every 5 ms from the CN to a host behind `router`, and the time the
    first one arrives tunneled at the mobile routers' link."""

    def __init__(self, router):
        self.target = socket.inet_pton(socket.AF_INET6, host_of(router.prefix))
        self.arrived = None
        self.got = threading.Event()
        self.capture = Capture("nemo-mr", self.on_frame)
        self.sender = Sender("nemo-cn")
        self.probe = self.sender.frame(IPv6(src=CN, dst=host_of(router.prefix)) / ICMPv6EchoRequest(data=b"first"))
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_frame(self, frame, when):
        t = tunneled(frame)
        if t and len(t[3]) >= 40 and t[3][24:40] == self.target and not self.got.is_set():
            self.arrived = when
            self.got.set()

    def run(self):
        while not self.got.wait(0.005):
            self.sender.send(self.probe)

    def close(self, timeout):
        self.got.wait(timeout)
        self.got.set()
        self.thread.join()
        self.capture.close()
        self.sender.close()
        return self.arrived


RESTORE_LINE = re.compile(r"nemo-ha: state: restored (\d+) bindings from (\S+) in (\d+) ms \((\d+) expired while "
                          r"down, (\d+) no longer provisioned, (\d+) damaged records\)")


class CrashRestart(unittest.TestCase):
    ROUTERS = 300          # 75 each: ipip, gre, udp, udp behind a NAT
    SHORT = 10             # registered for 4 s before one crash: they expire while nemo-ha is down
    DROPPED = 10           # taken out of the provisioning file before one restart
    KILLS = 5
    SAMPLE = 16            # routers whose forwarding is checked after each restart
    FIRST_FORWARD_BOUND_S = 10.0
    LIFETIME_UNITS = 75    # 300 s: outlives the test

    def setUp(self):
        self.seed = int(os.environ.get("NEMO_CRASH_SEED", random.SystemRandom().randrange(1 << 32)))
        print(f"\nCrashRestart seed {self.seed} (NEMO_CRASH_SEED={self.seed} repeats it)", flush=True)
        self.rng = random.Random(self.seed)
        self.dir = tempfile.mkdtemp(prefix="nemo-crash-")
        kinds = ("ipip", "gre", "udp", "nat")
        self.routers = [Router(i, kinds[i % 4], self.rng.randrange(1000, 30000)) for i in range(self.ROUTERS)]
        self.short = [Router(i, "ipip", self.rng.randrange(1000, 30000), hoa=f"2001:db8:1::b:{i + 1:x}",
                             prefix=f"2001:db8:{0x5000 + i:x}::") for i in range(self.SHORT)]
        self.by_hoa = {r.hoa: r for r in self.routers + self.short}
        self.provisioning = os.path.join(self.dir, "routers.txt")
        self.write_provisioning(self.routers + self.short)
        self.ha = HomeAgent(f"--provisioning.file={self.provisioning}", f"--access.gateway={ACCESS_GW}",
                            state_dir=os.path.join(self.dir, "state"))
        self.failed = True

    def tearDown(self):
        for name in ("refresher", "recorder"):
            if hasattr(self, name):
                getattr(self, name).close()
        if self.ha.proc is not None:
            self.ha.stop()
        if not self.failed:
            shutil.rmtree(self.ha.dir, ignore_errors=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"kept {self.dir} and {self.ha.dir} (the daemon's log)")

    def write_provisioning(self, routers):
        with open(self.provisioning, "w") as f:
            f.write("# the crash test's mobile routers\n")
            for r in routers:
                f.write(f"{r.hoa} router prefixes={r.prefix}/48\n")

    def wait_accepted(self, routers, after, timeout=20):
        """Waits until each router's BA accepting a BU sent after `after` (a sequence number per home
        address) was seen; returns the routers still waiting."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            accepted, _ = self.recorder.snapshot()
            waiting = [r for r in routers if accepted.get(r.hoa, -1) <= after.get(r.hoa, -1)]
            if not waiting:
                return []
            time.sleep(0.1)
        return waiting

    def test_bindings_survive_sigkill(self):
        started = time.time()
        self.recorder = BaRecorder()
        self.ha.start()
        self.refresher = Refresher(self.routers, random.Random(self.rng.random()), lifetime_units=self.LIFETIME_UNITS)
        self.refresher.resume()
        waiting = self.wait_accepted(self.routers, {})
        self.assertEqual(waiting, [], f"{len(waiting)} routers never registered")
        active = list(self.routers)   # provisioned and bound: what every crash must keep
        # Which crash has short-lived bindings, which restart has fewer routers provisioned, and which
        # is followed by a second crash during the start.
        expire_at, drop_at, abort_at = 1, 2, 3
        first_forward = []
        for crash in range(self.KILLS):
            short_alive = []
            if crash == expire_at:
                mark = {r.hoa: r.seq for r in self.short}
                sender = Sender("nemo-mr")
                for r in self.short:
                    sender.send(r.bu(sender, 1))  # 4 s
                sender.close()
                self.assertEqual(self.wait_accepted(self.short, {r.hoa: mark[r.hoa] for r in self.short}, 5), [])
                short_alive = list(self.short)
                short_acked = time.time()
            # A random moment while the routers keep refreshing and moving (the short-lived bindings,
            # granted 4 s, still live).
            time.sleep(self.rng.uniform(0.2, 2.0 if short_alive else 4.0))
            self.ha.kill()
            killed = time.time()
            self.refresher.pause()
            time.sleep(0.5)  # what was on the wire reaches the recorder
            accepted, rejected = self.recorder.snapshot()
            self.assertEqual(rejected, [], "no BU of a provisioned router is refused")
            stored = len(active) + len(short_alive)
            dropped = []
            if crash == drop_at:
                dropped = self.rng.sample(active, self.DROPPED)
                active = [r for r in active if r not in dropped]
                self.refresher.drop(dropped)
                self.write_provisioning(active + self.short)
            if short_alive:
                time.sleep(max(0.0, short_acked + 6 - time.time()))  # granted 4 s: gone before the start
            if crash == abort_at:
                # Once more, somewhere in the start (EAL, the store's load, the restore, the workers'
                # first turns): what the next start restores must not depend on where.
                self.ha.start(wait=False)
                into = self.rng.uniform(0.05, 0.8)
                time.sleep(into)
                self.ha.kill()
                print(f"crash {crash}: killed again {into:.2f} s into the start", flush=True)
            down = time.time() - killed
            probe_router = self.rng.choice(active)
            probe = FirstForward(probe_router)
            self.announced = {}
            announced = Capture("nemo-cn", self.on_home_link)
            self.ha.start()
            arrived = probe.close(self.FIRST_FORWARD_BOUND_S + 5)
            self.assertIsNotNone(arrived, f"crash {crash}: no packet forwarded to {probe_router.hoa} after the restart")
            first_forward.append(arrived - self.ha.started_at)
            print(f"crash {crash}: {self.refresher.sent} BUs sent so far, down {down:.1f} s, first packet forwarded "
                  f"{first_forward[-1] * 1000:.0f} ms after the process started", flush=True)

            with self.subTest(crash=crash):
                self.check_restored(crash, active, dropped, short_alive, accepted, stored)
                self.check_forwarding(self.rng.sample(active, self.SAMPLE))
                time.sleep(max(0.0, self.ha.started_at + 4 - time.time()))
                announced.close()
                # Router and Override set, Solicited clear, to all-nodes.
                missing = [r.hoa for r in active if (0x80 | 0x20, "ff02::1") not in self.announced.get(r.hoa, ())]
                self.assertEqual(missing, [], "each restored router's home address announced by an unsolicited NA")
            announced.close()
            self.refresher.resume()
        # The refreshes go on above the restored sequence numbers: each router's next BU is accepted.
        accepted, _ = self.recorder.snapshot()
        self.assertEqual(self.wait_accepted(active, accepted, 30), [], "refreshes accepted after the last restart")
        self.assertEqual(self.recorder.snapshot()[1], [], "no BU of a provisioned router is refused")
        print(f"first packet forwarded after the process started: {', '.join(f'{t:.2f}' for t in first_forward)} s "
              f"(bound {self.FIRST_FORWARD_BOUND_S} s); {self.refresher.sent} BUs; {time.time() - started:.0f} s in all")
        for t in first_forward:
            self.assertLess(t, self.FIRST_FORWARD_BOUND_S)
        self.failed = False

    def on_home_link(self, frame, when):
        """Neighbor Advertisements the HA sends on the home link: target -> (flags, destination)."""
        ip6 = frame[14:]
        if frame[12:14] == b"\x86\xdd" and len(ip6) >= 64 and ip6[6] == 58 and ip6[40] == 136:
            self.announced.setdefault(v6(ip6[48:64]), set()).add((ip6[44] & 0xE0, v6(ip6[24:40])))

    def check_restored(self, crash, active, dropped, short_alive, accepted, stored):
        bindings = self.ha.bindings(limit=10000)
        now = time.time()
        for r in active:
            self.assertIn(r.hoa, accepted, f"{r.hoa} was registered before crash {crash}")
            b = bindings.get(r.hoa)
            self.assertIsNotNone(b, f"{r.hoa}: its accepting BA (seq {accepted[r.hoa]}) was seen, yet no binding")
            self.assertGreaterEqual(b["sequence"], accepted[r.hoa], f"{r.hoa}: sequence below the one acknowledged")
            self.assertIn(b["sequence"], r.sent, f"{r.hoa}: sequence {b['sequence']} was never sent")
            (method, coa, port, outer, sport), sent_at = r.sent[b["sequence"]]
            shown = (b["method"], b["care_of"], b["peer"], b["behind_nat"])
            self.assertEqual(shown, (method, coa, outer, coa != outer), f"{r.hoa}: not the BU of seq {b['sequence']}")
            if method == "udp":
                self.assertEqual((b["care_of_port"], b["peer_port"]), (port, sport), f"{r.hoa}: ports")
            self.assertEqual(b["prefixes"], [f"{r.prefix}/48"])
            self.assertEqual(b["lifetime"], self.LIFETIME_UNITS * 4)
            # The remaining lifetime, not a new one: the clocks count whole seconds.
            self.assertAlmostEqual(b["expires_in"], self.LIFETIME_UNITS * 4 - (now - sent_at), delta=3,
                                   msg=f"{r.hoa}: remaining lifetime")
        for r in dropped:
            self.assertNotIn(r.hoa, bindings, f"{r.hoa} is no longer provisioned")
        for r in short_alive:
            self.assertNotIn(r.hoa, bindings, f"{r.hoa} expired while nemo-ha was down")
        self.assertEqual(sorted(bindings), sorted(r.hoa for r in active), "exactly the live bindings")

        state = self.ha.ctl("show", "state")
        restored = state["restored"]
        # The default backend, RocksDB, in the directory's db/.
        self.assertEqual(state["backend"], "rocksdb")
        self.assertEqual(state["path"], os.path.join(self.ha.state_dir, "db"))
        self.assertEqual(restored["bindings"], len(active))
        self.assertEqual(restored["expired_while_down"], len(short_alive))
        self.assertEqual(restored["unprovisioned"], len(dropped))
        self.assertEqual(restored["damaged"], 0)
        self.assertEqual(restored["bindings"] + restored["expired_while_down"] + restored["unprovisioned"], stored,
                         "restored + expired + unprovisioned is what was stored")
        counters = self.ha.stats()
        self.assertEqual((counters["nemoHaStateBindingsRestored"], counters["nemoHaStateBindingsExpiredWhileDown"],
                          counters["nemoHaStateBindingsUnprovisioned"], counters["nemoHaStateRecordsDamaged"]),
                         (len(active), len(short_alive), len(dropped), 0))
        line = RESTORE_LINE.search(self.ha.output())
        self.assertIsNotNone(line, "the restore line at start:\n" + self.ha.output())
        self.assertEqual((int(line[1]), line[2], int(line[4]), int(line[5]), int(line[6])),
                         (len(active), state["path"], len(short_alive), len(dropped), 0))
        print(f"crash {crash}: {len(active)} bindings restored in {restored['restore_ms']} ms "
              f"(load {restored['load_ms']} ms), {len(short_alive)} expired, {len(dropped)} unprovisioned", flush=True)

    def check_forwarding(self, sample):
        """Both ways, for `sample`, through the restored bindings as nemo-ha shows them."""
        bindings = {r.hoa: self.ha.ctl("show", "binding", r.hoa) for r in sample}
        hosts = {socket.inet_pton(socket.AF_INET6, host_of(r.prefix)): r for r in sample}
        down, up = {}, set()

        def downstream(frame, when):
            t = tunneled(frame)
            if t and len(t[3]) >= 40 and t[3][8:24] == CN_B and t[3][24:40] in hosts:
                down[t[3][24:40]] = t[:3]

        def upstream(frame, when):
            if frame[12:14] == b"\x86\xdd" and frame[14 + 24:14 + 40] == CN_B and frame[14 + 8:14 + 24] in hosts:
                up.add(frame[14 + 8:14 + 24])

        cn, mr = Sender("nemo-cn"), Sender("nemo-mr")
        to_mr, to_cn = Capture("nemo-mr", downstream), Capture("nemo-cn", upstream)
        spoofed = self.ha.stats()["dataplane.spoofed"]
        try:
            for _ in range(3):  # the first packets may wait for neighbour resolution
                for h, r in hosts.items():
                    if h not in down:
                        cn.send(cn.frame(IPv6(src=CN, dst=v6(h)) / ICMPv6EchoRequest(data=b"restored-down")))
                    if h not in up:
                        b = bindings[r.hoa]
                        inner = IPv6(src=v6(h), dst=CN) / ICMPv6EchoReply(data=b"restored-up")
                        mr.send(mr.frame(tunnel(b["method"], inner, b["peer"], b["peer_port"])))
                time.sleep(1)
                if len(down) == len(hosts) and len(up) == len(hosts):
                    break
        finally:
            for c in (to_mr, to_cn, cn, mr):
                c.close()
        for h, r in hosts.items():
            b = bindings[r.hoa]
            self.assertIn(h, down, f"downstream to {r.hoa}'s network after the restart")
            self.assertEqual(down[h], (b["peer"], b["method"], b["peer_port"] if b["method"] == "udp" else 0),
                             f"{r.hoa}: tunneled to its care-of address")
            self.assertIn(h, up, f"upstream from {r.hoa}'s network after the restart")
        self.assertEqual(self.ha.stats()["dataplane.spoofed"], spoofed, "nothing upstream taken for spoofed")


# ---------------------------------------------------------------------------------------------------



class ReplayWindow:
    """RFC 4303 3.4.3's receive window (scapy 2.5's SecurityAssociation keeps none): a number is new when
    above the highest seen, or inside the window and not seen; the window moves only for packets whose
    integrity checked."""

    def __init__(self, size=64):
        self.size, self.top, self.seen = size, 0, 0

    def fresh(self, seq):
        if seq > self.top:
            return True
        return seq > 0 and self.top - seq < self.size and not (self.seen >> (self.top - seq)) & 1

    def accept(self, seq):
        if seq > self.top:
            self.seen = ((self.seen << (seq - self.top)) | 1) & ((1 << self.size) - 1)
            self.top = seq
        else:
            self.seen |= 1 << (self.top - seq)


def esp_of(frame):
    """(SPI, sequence number, the IPv4 packet) of ESP (or ESP in UDP 4500) the HA sent, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[26:30] != HA4_B:
        return None
    ip = frame[14:14 + struct.unpack("!H", frame[16:18])[0]]
    ihl = (ip[0] & 15) * 4
    if ip[9] == 50:
        esp = ip[ihl:]
    elif ip[9] == 17 and ip[ihl:ihl + 2] == b"\x11\x94" and ip[ihl + 8:ihl + 12] != b"\0\0\0\0":
        esp = ip[ihl + 8:]
    else:
        return None
    if len(esp) < 8:
        return None
    spi, seq = struct.unpack("!II", esp[:8])
    return spi, seq, bytes(ip)


class EspSequenceNumbers(unittest.TestCase):
    """After a crash, outbound ESP sequence numbers go on above every one sent before (RFC 4303 3.3.3: a
    number is never sent twice under one SA; with AES-GCM a repeat would reuse a nonce), and the router's
    replay window takes them."""
    IN_KEY, IN_AUTH = bytes(range(0x11, 0x21)), bytes(range(0x30, 0x50))
    GCM_OUT = bytes(range(0x61, 0x71)) + bytes.fromhex("0badcafe")
    CBC_OUT, CBC_OUT_AUTH = bytes(range(0x81, 0x91)), bytes(range(0xA0, 0xC0))
    PACKETS = 40
    ENOUGH = 30  # the first few after a start may meet an unresolved neighbour

    def variant(self, nat, out_line, out_scapy):
        sa_in_line = f"in 0x1001 {HOA} aes-cbc-128-hmac-sha256 enc={key_file(self.IN_KEY)} auth={key_file(self.IN_AUTH)}"
        ha = HomeAgent("--ha.methods=ipv6,ipip,gre,udp,esp,esp-udp", "--ha.allow_unprotected_signaling=no",
                       "--ipsec.allow_manual_gcm=yes",  # a lab: AES-GCM by hand
                       f"--ipsec.sa={sa_in_line}", f"--ipsec.sa=out 0x2001 {HOA} {out_line}")
        sa_in = SecurityAssociation(ESP, spi=0x1001, tunnel_header=IP(src=COA, dst=HA4),
                                    nat_t_header=UDP(sport=4500, dport=4500) if nat else None,
                                    crypt_algo="AES-CBC", crypt_key=self.IN_KEY, auth_algo="SHA2-256-128",
                                    auth_key=self.IN_AUTH)
        sa_out = SecurityAssociation(ESP, spi=0x2001, **out_scapy)
        seen = []  # (phase, seq, packet) in arrival order
        phase = [0]
        lock = threading.Lock()

        def on_frame(frame, when):
            e = esp_of(frame)
            if e and e[0] == 0x2001:
                with lock:
                    seen.append((phase[0], e[1], e[2]))

        with ha:
            capture = Capture("nemo-mr", on_frame)
            try:
                send_from("nemo-mr", sa_in.encrypt(binding_update(500, 0x3 if nat else 0x2, prefixes=(MNP_A,))))
                deadline = time.time() + 3
                while time.time() < deadline and HOA not in ha.bindings():
                    time.sleep(0.1)
                self.assertEqual(ha.bindings().get(HOA, {}).get("method"), "esp-udp" if nat else "esp", "registered through ESP")
                cn = Sender("nemo-cn")
                for p, how in enumerate((None, signal.SIGKILL, signal.SIGKILL, signal.SIGTERM)):
                    if how is not None:
                        ha.restart(how)
                        self.assertEqual(ha.bindings().get(HOA, {}).get("method"), "esp-udp" if nat else "esp",
                                         "binding restored")
                    with lock:
                        phase[0] = p
                    for k in range(self.PACKETS):
                        cn.send(cn.frame(IPv6(src=CN, dst=host_of(MNP_A)) / ICMPv6EchoRequest(data=f"p{p}-{k}".encode())))
                        time.sleep(0.01)
                    deadline = time.time() + 3
                    while time.time() < deadline and sum(1 for s in list(seen) if s[0] == p) < self.PACKETS:
                        time.sleep(0.1)
                cn.close()
                time.sleep(0.3)
                sas = {s["spi"]: s for s in ha.ctl("show", "sa")["sas"]}
            finally:
                capture.close()
        self.assertFalse(sas[0x2001]["exhausted"])
        window, opened, refused = ReplayWindow(), [], 0
        top_before = 0
        for p in range(4):
            seqs = [s for q, s, _ in seen if q == p]
            self.assertGreaterEqual(len(seqs), self.ENOUGH, f"phase {p}: downstream ESP reached the router")
            if p:
                self.assertGreater(min(seqs), top_before, f"after restart {p}: a sequence number sent again")
            print(f"{'S+U' if nat else 'S'}: phase {p} sequence numbers {min(seqs)}..{max(seqs)}", flush=True)
            top_before = max(top_before, max(seqs))
        for p, seq, pkt in seen:
            if not window.fresh(seq):
                refused += 1
                continue
            clear = sa_out.decrypt(IP(pkt))  # raises when the ICV does not check
            window.accept(seq)
            if clear.haslayer(ICMPv6EchoRequest):
                opened.append(bytes(clear[ICMPv6EchoRequest].data))
        self.assertEqual(refused, 0, "the router's replay window refused none")
        for p in range(4):
            self.assertGreaterEqual(len([d for d in opened if d.startswith(f"p{p}-".encode())]), self.ENOUGH)

    def test_s_aes_gcm(self):
        self.variant(False, f"aes-gcm-128 enc={key_file(self.GCM_OUT)}", dict(crypt_algo="AES-GCM", crypt_key=self.GCM_OUT))

    def test_s_plus_u_aes_cbc_hmac_sha256(self):
        self.variant(True, f"aes-cbc-128-hmac-sha256 enc={key_file(self.CBC_OUT)} auth={key_file(self.CBC_OUT_AUTH)}",
                     dict(crypt_algo="AES-CBC", crypt_key=self.CBC_OUT, auth_algo="SHA2-256-128", auth_key=self.CBC_OUT_AUTH))


# ---------------------------------------------------------------------------------------------------

class OperatorChanges(unittest.TestCase):
    """add mr, add mr --replace, del mr (of routers from the configuration), add sa, del sa and clear
    binding survive a stop and a crash right after they were answered: they are re-applied over the
    configuration, and the added SAs' keys still work."""
    CFG_IN, CFG_IN_AUTH = bytes(range(0x01, 0x11)), bytes(range(0x20, 0x40))
    CFG_OUT, CFG_OUT_AUTH = bytes(range(0x41, 0x51)), bytes(range(0x60, 0x80))
    NEW_IN, NEW_IN_AUTH = bytes(range(0x81, 0x91)), bytes(range(0x90, 0xB0))
    NEW_OUT, NEW_OUT_AUTH = bytes(range(0xB1, 0xC1)), bytes(range(0xC0, 0xE0))
    NEW_OUT2, NEW_OUT2_AUTH = bytes(range(0xD1, 0xE1)), bytes(range(0xE0, 0x100))
    MR = "2001:db8:1::400"
    maxDiff = None
    MR_PREFIX = "2001:db8:dddd::"

    def ok(self, ha, *words):
        r = ha.ctl_raw(*words)
        self.assertEqual(r.returncode, 0, f"nemo-hactl {' '.join(words)}: {r.stdout}{r.stderr}")
        return r.stdout

    def view(self, ha):
        mrs = {m["hoa"]: m for m in ha.ctl("show", "mr")["mobile_nodes"]}
        sas = {s["spi"]: (s["sa"], s["inbound"]) for s in ha.ctl("show", "sa")["sas"]}
        return mrs, sas

    def protected_registration(self, ha, seq, sa_in, sa_out):
        """A BU of MR through sa_in; True when the BA came back through sa_out accepting it."""
        bu = binding_update(seq, 0x2, prefixes=(self.MR_PREFIX,), hoa=self.MR)
        found = []

        def opened(p):
            try:
                clear = sa_out.decrypt(IP(raw(p[IP])))
            except Exception:
                return False
            if clear.haslayer(MIP6MH_BA):
                found.append(clear[MIP6MH_BA].status)
                return True
            return False
        exchange(IP(raw(sa_in.encrypt(bu))), "ip proto 50", lfilter=lambda p: p.haslayer(ESP) and opened(p))
        return found == [0]

    def test_changes_survive_sigterm_and_sigkill(self):
        cbc = "aes-cbc-128-hmac-sha256"
        ha = HomeAgent("--ha.methods=ipv6,ipip,gre,udp,esp,esp-udp",
                       f"--ipsec.sa=in 0x1001 {HOA} {cbc} enc={key_file(self.CFG_IN)} auth={key_file(self.CFG_IN_AUTH)}",
                       f"--ipsec.sa=out 0x2001 {HOA} {cbc} enc={key_file(self.CFG_OUT)} auth={key_file(self.CFG_OUT_AUTH)}")
        sa = lambda spi, key, auth, **kw: SecurityAssociation(ESP, spi=spi, crypt_algo="AES-CBC", crypt_key=key,
                                                               auth_algo="SHA2-256-128", auth_key=auth, **kw)
        sa_in = sa(0x3001, self.NEW_IN, self.NEW_IN_AUTH, tunnel_header=IP(src=COA, dst=HA4))
        keys = [k.hex() for k in (self.CFG_IN, self.CFG_IN_AUTH, self.CFG_OUT, self.CFG_OUT_AUTH, self.NEW_IN,
                                  self.NEW_IN_AUTH, self.NEW_OUT, self.NEW_OUT_AUTH, self.NEW_OUT2, self.NEW_OUT2_AUTH)]
        with ha:
            mrs, sas = self.view(ha)
            self.assertIn("2001:db8:1::200", mrs)
            self.assertEqual(mrs["2001:db8:1::100"]["prefixes"], ["2001:db8:aaaa::/48", "2001:db8:bbbb::/48"])
            self.ok(ha, "add", "mr", self.MR, "router", f"prefixes={self.MR_PREFIX}/48", "methods=ipip,udp,esp")
            self.ok(ha, "add", "mr", "--replace", "2001:db8:1::100", "router", "prefixes=2001:db8:aaaa::/48",
                    "methods=ipip,gre")
            self.ok(ha, "del", "mr", "2001:db8:1::200")
            self.ok(ha, "add", "sa", "in", "0x3001", self.MR, cbc, f"enc={key_file(self.NEW_IN)}",
                    f"auth={key_file(self.NEW_IN_AUTH)}")
            self.ok(ha, "add", "sa", "out", "0x4001", self.MR, cbc, f"enc={key_file(self.NEW_OUT)}",
                    f"auth={key_file(self.NEW_OUT_AUTH)}")
            self.ok(ha, "del", "sa", "0x1001")
            want_mrs, want_sas = self.view(ha)
            self.assertTrue(self.protected_registration(ha, 10, sa_in, sa(0x4001, self.NEW_OUT, self.NEW_OUT_AUTH)))

            # A clean stop, then a crash right after a second round of changes was answered.
            for round, how in enumerate((signal.SIGTERM, signal.SIGKILL, signal.SIGKILL)):
                ha.restart(how)
                print(f"operator changes: restart {round} by {how.name}", flush=True)
                mrs, sas = self.view(ha)
                self.assertEqual(mrs, want_mrs, "show mr as before the restart")
                self.assertEqual(sas, want_sas, "show sa as before the restart")
                state = ha.ctl("show", "state")
                self.assertEqual(state["restored"]["not_reapplied"], 0)
                # The binding of the latest protected registration, or none after clear binding.
                bound = ha.bindings().get(self.MR)
                if round == 1:
                    self.assertIsNone(bound, "clear binding lasts")
                else:
                    self.assertIsNotNone(bound, "the binding is restored")
                    self.assertEqual((bound["sequence"], bound["method"]), (10 if round == 0 else 21, "esp"))
                self.assertNotIn("2001:db8:1::200", mrs, "del mr of a router from the configuration")
                self.assertEqual(mrs["2001:db8:1::100"]["prefixes"], ["2001:db8:aaaa::/48"], "add mr --replace")
                self.assertEqual(mrs["2001:db8:1::100"]["methods"], "ipip,gre")
                self.assertNotIn(0x1001, sas, "del sa of an SA from the configuration")
                self.assertIn(0x2001, sas)
                out_spi = 0x4001 if round == 0 else 0x4002
                self.assertEqual(set(sas), {0x2001, 0x3001, out_spi})
                out_keys = (self.NEW_OUT, self.NEW_OUT_AUTH) if round == 0 else (self.NEW_OUT2, self.NEW_OUT2_AUTH)
                self.assertTrue(self.protected_registration(ha, 20 + round, sa_in, sa(out_spi, *out_keys)),
                                "the added SAs' keys survived")
                output = ha.output() + ha.ctl_raw("show", "state").stdout + ha.ctl_raw("show", "sa").stdout
                for k in keys:
                    self.assertNotIn(k, output, "keys are never printed")
                if round == 0:
                    self.ok(ha, "clear", "binding", self.MR)
                    self.ok(ha, "del", "mr", "2001:db8:1::300")
                    self.ok(ha, "add", "mr", "2001:db8:1::500", "host")
                    self.ok(ha, "del", "sa", "0x4001")
                    self.ok(ha, "add", "sa", "out", "0x4002", self.MR, cbc, f"enc={key_file(self.NEW_OUT2)}",
                            f"auth={key_file(self.NEW_OUT2_AUTH)}")
                    want_mrs, want_sas = self.view(ha)
                    self.assertNotIn("2001:db8:1::300", want_mrs)
                    self.assertIn("2001:db8:1::500", want_mrs)
            # The store holds SA keys: the directory nemo-ha made is its user's only.
            mode = os.stat(ha.state_dir).st_mode
            self.assertEqual(mode & (stat.S_IRWXG | stat.S_IRWXO), 0, f"{ha.state_dir}: mode {oct(mode)}")

    def test_keys_in_a_state_directory_made_before(self):
        """A state directory that exists already (made by a package, mode 0755): the SA keys the store
        holds are still readable by nemo-ha's user only."""
        ha = HomeAgent("--ha.methods=ipv6,ipip,gre,udp,esp,esp-udp")
        os.makedirs(ha.state_dir, mode=0o755)
        os.chmod(ha.state_dir, 0o755)
        with ha:
            self.ok(ha, "add", "mr", self.MR, "router", f"prefixes={self.MR_PREFIX}/48")
            self.ok(ha, "add", "sa", "in", "0x3001", self.MR, "aes-cbc-128-hmac-sha256", f"enc={key_file(self.NEW_IN)}",
                    f"auth={key_file(self.NEW_IN_AUTH)}")
            exposed = []
            for name in os.listdir(ha.state_dir):
                mode = os.stat(os.path.join(ha.state_dir, name)).st_mode
                if mode & (stat.S_IRGRP | stat.S_IROTH) and os.stat(ha.state_dir).st_mode & (stat.S_IXGRP | stat.S_IXOTH):
                    exposed.append(f"{name} {oct(mode & 0o777)}")
            self.assertEqual(exposed, [], "files holding SA keys readable by others")



class StoreThreads(unittest.TestCase):
    def test_the_stores_threads_stay_off_the_worker_cores(self):
        """The writer (nemo-state) and the database's own threads run where the control thread runs
        (the main lcore's CPUs), never on a worker's: a busy-polling worker is not preempted by a sync."""
        with HomeAgent() as ha:
            def cpus(task):
                with open(f"/proc/{ha.proc.pid}/task/{task}/status") as f:
                    return next(line.split(":", 1)[1].strip() for line in f if line.startswith("Cpus_allowed_list"))
            names = {}
            for task in os.listdir(f"/proc/{ha.proc.pid}/task"):
                with open(f"/proc/{ha.proc.pid}/task/{task}/comm") as f:
                    names[task] = f.read().strip()
            main = cpus(str(ha.proc.pid))
            workers = {cpus(t) for t, n in names.items() if n.startswith("rte-worker")}
            store = {n: cpus(t) for t, n in names.items() if n == "nemo-state" or n.startswith("rocksdb")}
            self.assertIn("nemo-state", store, names)
            self.assertTrue(workers, names)
            for name, where in store.items():
                self.assertEqual(where, main, f"{name} may run on CPUs {where}, the control thread on {main}")
                self.assertNotIn(where, workers, f"{name} on a worker's CPU")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("integration tests need root (network namespaces)", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
