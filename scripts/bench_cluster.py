#!/usr/bin/python3
"""nemo-ha's cluster mode on the integration test bed (tests/integration/cluster_harness.py): three
instances in one namespace sharing their bindings through a 3-member etcd on its loopback. Measures

  lag       a BU accepted at instance 1 (the BA 0 as the router receives it, the kernel's receive time
            stamp on mr1) until instance 2 forwards for that router (a probe sent into instance 2's home
            link every --interval-ms comes out of its access link in the router's tunnel: the kernel's
            time stamp on mr2), one router after another; and what instance 2's `show cluster` says
            (lag_ms_median/p99: from the writer's commit at instance 1 to the watch event applied at 2).
  failover  a steady downstream stream for instance 1's routers through instances 2 and 3; instance 1
            SIGKILLed in the middle: packets lost at 2 and 3 before, during and after, and the time until
            instance 2's `show cluster` calls instance 1 not alive (its membership lease, 5 s).
  db size   etcd's dbSize / dbSizeInUse (`etcdctl endpoint status`) before and after N registrations, after
            a refresh of each (one more revision each), and after compaction and defragmentation.

    sudo /usr/bin/python3 scripts/bench_cluster.py [--json FILE] [--routers 200] [--lag-reps 5] ...

Namespaces: NEMO_NS_PREFIX (default nclb-). Everything it starts (etcd, nemo-ha, namespaces) is stopped
at the end, also on failure or ^C.
"""
import argparse
import json
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("NEMO_NS_PREFIX", "nclb-")  # before the harness reads it
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from cluster_harness import (CN, HA_NS, ClusterInstance, ClusterTopology, Router, Sender, access,  # noqa: E402
                             binding_ack, home, netns, ns_name, tunneled, v6b, wait_for,
                             write_provisioning)
from etcd_cluster import EtcdCluster  # noqa: E402
from frames import PACKET_OUTGOING, raw_socket  # noqa: E402
from scapy.all import IPv6, raw  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoRequest  # noqa: E402

METHODS = ("ipip", "gre", "udp")
CLUSTER = "nclb"
SO_TIMESTAMPNS = 35
# Router index ranges of the phases (each router is registered in one phase only).
LAG_BASE, FAIL_BASE, DB_BASE, WARM_BASE = 1000, 6000, 12000, 900


def say(text):
    print(text, flush=True)


def pct(values, q):
    """The q-quantile (nearest rank) of `values`."""
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(q * len(v)))]


def spread(values):
    """{median, min, max} of per-repetition figures."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v)}


class TsSocket:
    """A raw socket on a Link's test interface that hands back (kernel receive time, frame) of frames
    arriving there (SO_TIMESTAMPNS), read without blocking."""

    def __init__(self, link):
        with netns(link.ns):
            self.sock = raw_socket(link.iface, 16 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def drain(self):
        out = []
        while True:
            try:
                frame, anc, _, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return out
            if addr[2] == PACKET_OUTGOING:
                continue
            ts = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    ts = sec + nsec * 1e-9
            out.append((ts, frame))

    def close(self):
        self.sock.close()


def cpu_by_thread(pid):
    """{thread name: CPU seconds (user + system)} of process `pid`'s threads, summed by name."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / hz
    return out


def cpu_delta(after, before):
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items() if v - before.get(k, 0.0) > 0.0}


def down_probe(sender, r, tag):
    """A frame into an instance's home link from the CN to a host behind `r`, carrying `tag`."""
    return sender.frame(IPv6(src=CN, dst=r.host(), hlim=33) / ICMPv6EchoRequest(id=r.i & 0xFFFF, data=tag))


def probe_parser(r, tag):
    dst = v6b(r.host())

    def parse(frame):
        t = tunneled(frame)
        return t is not None and len(t[3]) >= 40 and t[3][24:40] == dst and tag in t[3]
    return parse


class BenchInstance(ClusterInstance):
    """The harness's instance k with an EAL file prefix of this benchmark's own (the harness's nemo-cl{k}
    is the tests', which may run at the same time in their own namespaces)."""

    def args(self):
        mine = f"--file-prefix=nemo-clb{self.k}-{os.getpid()}"
        return [a.replace(f"--file-prefix=nemo-cl{self.k}", mine) if a.startswith("--eal.args=") else a
                for a in super().args()]


class Bench:
    def __init__(self, args):
        self.a = args
        # Every temporary directory of this run (the instances', etcd's) under one of its own, whose name
        # no other run's clean-up of /tmp/nemo-ha-test-* or /tmp/nemo-etcd-* matches.
        self.dir = tempfile.mkdtemp(prefix="clbench-")
        tempfile.tempdir = self.dir
        self.instances = {}
        self.results = {"config": {k: v for k, v in vars(args).items() if k != "json"}}
        self.lag_routers = [[Router(LAG_BASE + rep * args.routers + i, METHODS[i % 3]) for i in range(args.routers)]
                            for rep in range(args.lag_reps)]
        self.fail_routers = [[Router(FAIL_BASE + rep * args.fail_routers + i, METHODS[i % 3])
                              for i in range(args.fail_routers)] for rep in range(args.fail_reps)]
        self.db_routers = [Router(DB_BASE + i, METHODS[i % 3]) for i in range(args.db_routers)]
        self.warm = [Router(WARM_BASE + i, METHODS[i % 3]) for i in range(3)]

    # ---------------------------------------------------------------------------------------------
    def setup(self):
        self.topology = ClusterTopology(3).__enter__()
        self.etcd = EtcdCluster(ns_name(HA_NS), token=f"nemo-clbench-{os.getpid()}").__enter__()
        prov = os.path.join(self.dir, "routers.txt")
        write_provisioning(prov, self.warm + [r for g in self.lag_routers + self.fail_routers for r in g]
                           + self.db_routers)
        self.prov = prov
        for k in (1, 2, 3):
            self.instances[k] = BenchInstance(k, f"--provisioning.file={prov}", etcd=self.etcd, cluster=CLUSTER)
        for inst in self.instances.values():
            inst.start(wait=False)
        for inst in self.instances.values():
            inst.wait_ready(timeout=60)
        self.acc_tx = {k: Sender(access(k)) for k in (1, 2, 3)}
        self.home_tx = {k: Sender(home(k)) for k in (1, 2, 3)}
        self.acc_rx = {k: TsSocket(access(k)) for k in (1, 2, 3)}
        wait_for("every instance sees three members alive", lambda: self.instances[2].show_cluster()["members"],
                 lambda ms: sum(m["alive"] for m in ms) == 3, 30, 0.2)

    def teardown(self, ok):
        for group in ("acc_tx", "home_tx", "acc_rx"):
            for s in getattr(self, group, {}).values():
                s.close()
        bad = []
        for k, inst in self.instances.items():
            if inst.proc is None or inst.proc.poll() is not None:
                continue
            code = inst.stop()
            if code != 0:
                bad.append((k, code))
            if not ok or code != 0:
                say(f"instance {k}: kept {inst.dir} (log {inst.log})")
            else:
                subprocess.run(["rm", "-rf", inst.dir])
        if hasattr(self, "etcd"):
            self.etcd.ok = ok and not bad
            self.etcd.__exit__(None, None, None)
        if hasattr(self, "topology"):
            self.topology.__exit__(None, None, None)
        if ok and not bad:
            subprocess.run(["rm", "-rf", self.dir])
        return bad

    # ---------------------------------------------------------------------------------------------
    def register(self, k, routers, timeout=5.0, attempts=4, batch=250):
        """Registers `routers` through instance k (each BU with the next sequence number, `batch` at a
        time, resending to those without a BA); raises unless each gets BA 0 for its sequence."""
        rx, tx = self.acc_rx[k], self.acc_tx[k]
        waiting = list(routers)
        for _ in range(attempts):
            got = {}
            for at in range(0, len(waiting), batch):
                part = waiting[at:at + batch]
                want = {}
                rx.drain()
                for r in part:
                    r.seq += 1
                    want[r.hoa] = r.seq
                    tx.send(r.bu())
                deadline = time.time() + timeout
                while time.time() < deadline and len([h for h in want if h in got]) < len(want):
                    select.select([rx], [], [], 0.05)
                    for _, f in rx.drain():
                        ba = binding_ack(f)
                        if ba and ba[0] in want and ba[0] not in got:
                            got[ba[0]] = (ba[1], ba[2])
            bad = {h: v for h, v in got.items() if v[0] != 0}
            if bad:
                raise RuntimeError(f"BAs through instance {k} that are not 0: {list(bad.items())[:5]}")
            waiting = [r for r in waiting if r.hoa not in got]
            if not waiting:
                return
        raise RuntimeError(f"{len(waiting)} routers saw no BA from instance {k}, e.g. {waiting[0].hoa}")

    def wait_listed(self, k, routers, timeout=30):
        want = {r.hoa: r.seq for r in routers}

        def problems():
            have = self.instances[k].bindings(limit=100000)
            return [h for h, s in want.items() if h not in have or have[h].get("sequence") != s]
        wait_for(f"instance {k} lists {len(routers)} bindings", problems, lambda p: p == [], timeout, 0.2)

    def forwards(self, k, r, tag, tries=5):
        """Whether a probe into instance k's home link comes out of its access link for `r`."""
        parse = probe_parser(r, tag)
        frame = down_probe(self.home_tx[k], r, tag)
        for _ in range(tries):
            self.home_tx[k].send(frame)
            deadline = time.time() + 0.5
            while time.time() < deadline:
                select.select([self.acc_rx[k]], [], [], 0.05)
                if any(parse(f) for _, f in self.acc_rx[k].drain()):
                    return True
        return False

    def warm_up(self):
        """Registers three routers through instance 1 and sees instances 2 and 3 forward for them: their
        access gateway is resolved before anything is timed."""
        self.register(1, self.warm)
        for k in (2, 3):
            self.wait_listed(k, self.warm)
            for r in self.warm:
                if not self.forwards(k, r, f"clb-warm-{k}-{r.i}".encode()):
                    raise RuntimeError(f"instance {k} does not forward for {r.hoa} ({r.method}) after warm-up")

    # ---------------------------------------------------------------------------------------------
    def lag_one(self, r, interval, timeout=3.0):
        """BU for `r` into instance 1; probes into instance 2 every `interval` s. Returns a dict of kernel
        times: bu (user time just before the send), ba, fwd (first encapsulated probe at mr2)."""
        tag = f"clbl{r.i:06d}".encode()
        parse = probe_parser(r, tag)
        probe = down_probe(self.home_tx[2], r, tag)
        r.seq += 1
        bu = self.acc_tx[1].frame(r.bu())
        rx1, rx2 = self.acc_rx[1], self.acc_rx[2]
        rx1.drain()
        rx2.drain()
        out = {"hoa": r.hoa, "method": r.method, "ba": None, "fwd": None, "status": None, "probes": 0}
        out["bu"] = time.time()
        self.acc_tx[1].send(bu)
        next_probe = time.time()
        deadline = out["bu"] + timeout
        while True:
            now = time.time()
            if now >= deadline:
                break
            if now >= next_probe:
                self.home_tx[2].send(probe)
                out["probes"] += 1
                next_probe += interval
                if next_probe < now:  # fell behind (the machine is busy): no burst to catch up
                    next_probe = now + interval
            readable, _, _ = select.select([rx1, rx2], [], [], max(0.0, min(next_probe, deadline) - time.time()))
            if rx1 in readable:
                for ts, f in rx1.drain():
                    ba = binding_ack(f)
                    if ba and ba[0] == r.hoa and ba[2] == r.seq and out["ba"] is None:
                        out["ba"], out["status"] = ts, ba[1]
            if rx2 in readable:
                for ts, f in rx2.drain():
                    if out["fwd"] is None and parse(f):
                        out["fwd"] = ts
            if out["ba"] is not None and out["fwd"] is not None:
                break
        return out

    def bench_lag(self):
        a = self.a
        reps = []
        for rep, routers in enumerate(self.lag_routers):
            samples = [self.lag_one(r, a.interval_ms / 1000.0) for r in routers]
            ok = [s for s in samples if s["ba"] is not None and s["fwd"] is not None and s["status"] == 0]
            lag = [(s["fwd"] - s["ba"]) * 1000 for s in ok]
            bu_fwd = [(s["fwd"] - s["bu"]) * 1000 for s in ok]
            bu_ba = [(s["ba"] - s["bu"]) * 1000 for s in ok]
            c = self.instances[2].show_cluster()
            w = c["watch"]
            row = {
                "routers": len(routers), "measured": len(ok),
                "no_ba": sum(s["ba"] is None for s in samples),
                "ba_not_0": sum(s["status"] not in (None, 0) for s in samples),
                "not_forwarded": sum(s["fwd"] is None for s in samples),
                "ba_to_fwd_ms": {"median": pct(lag, 0.5), "p99": pct(lag, 0.99), "min": min(lag, default=None),
                                 "max": max(lag, default=None)},
                "bu_to_ba_ms": {"median": pct(bu_ba, 0.5), "p99": pct(bu_ba, 0.99)},
                "bu_to_fwd_ms": {"median": pct(bu_fwd, 0.5), "p99": pct(bu_fwd, 0.99)},
                "negative": sum(x < 0 for x in lag),
                "probes_median": pct([s["probes"] for s in ok], 0.5),
                "show_cluster_2": {k: w.get(k) for k in ("lag_samples", "lag_ms_median", "lag_ms_p99", "lag_ms_max",
                                                         "events", "resyncs", "revision")},
            }
            reps.append(row)
            m = row["ba_to_fwd_ms"]
            say(f"lag rep {rep + 1}: {len(ok)}/{len(routers)} routers: BA at router 1 -> forwarded by 2: median "
                f"{m['median']:.2f} ms, p99 {m['p99']:.2f} ms (BU -> BA median {row['bu_to_ba_ms']['median']:.2f} ms); "
                f"show cluster on 2: median {w['lag_ms_median']} ms, p99 {w['lag_ms_p99']} ms over {w['lag_samples']}")
        self.results["lag"] = {
            "repetitions": reps,
            "ba_to_fwd_median_ms": spread([r["ba_to_fwd_ms"]["median"] for r in reps]),
            "ba_to_fwd_p99_ms": spread([r["ba_to_fwd_ms"]["p99"] for r in reps]),
            "bu_to_ba_median_ms": spread([r["bu_to_ba_ms"]["median"] for r in reps]),
            "bu_to_fwd_median_ms": spread([r["bu_to_fwd_ms"]["median"] for r in reps]),
            "show_cluster_median_ms": spread([r["show_cluster_2"]["lag_ms_median"] for r in reps]),
            "show_cluster_p99_ms": spread([r["show_cluster_2"]["lag_ms_p99"] for r in reps]),
            "not_measured": sum(r["routers"] - r["measured"] for r in reps),
        }

    # ---------------------------------------------------------------------------------------------
    def restart_one(self):
        """Instance 1 started again (after a kill) and seen alive by instance 2."""
        one = self.instances[1]
        if one.proc is None or one.proc.poll() is not None:
            t0 = time.time()
            one.start(wait=False)
            one.wait_ready(timeout=60)
            wait_for("instance 2 sees ha1 alive again", lambda: self.instances[2].show_cluster()["members"],
                     lambda ms: any(m["instance"] == "ha1" and m["alive"] for m in ms), 30, 0.2)
            return time.time() - t0
        return None

    def bench_failover(self):
        a = self.a
        reps = []
        for rep, routers in enumerate(self.fail_routers):
            self.restart_one()
            self.register(1, routers)
            for k in (2, 3):
                self.wait_listed(k, routers)
            reps.append(self.failover_once(rep, routers))
            row = reps[-1]
            say(f"failover rep {rep + 1}: {row['sent_total']} packets through 2 and 3 ({row['pps_per_instance']:.0f}/s "
                f"each), lost at 2: {row['lost'][2]}, at 3: {row['lost'][3]}; instance 2 calls ha1 not alive "
                f"{row['not_alive_s']:.2f} s after the kill")
        restarted = self.restart_one()
        if restarted is not None:
            say(f"instance 1 restarted, alive on instance 2 {restarted:.2f} s after the start")
        self.results["failover"] = {
            "repetitions": reps,
            "lost_total": sum(sum(sum(w.values()) for w in r["lost"].values()) for r in reps),
            "sent_total": sum(r["sent_total"] for r in reps),
            "not_alive_s": spread([r["not_alive_s"] for r in reps]),
            "not_alive_s_3": spread([r["not_alive_s_3"] for r in reps]),
        }

    def failover_once(self, rep, routers):
        a = self.a
        period = 1.0 / a.fail_pps  # one packet to each of instances 2 and 3 per period
        # One frame per (instance, router), its sequence number patched in: the tag carries the number and
        # its complement, so that the ICMPv6 checksum stays right whatever the number is.
        templates = {}
        for k in (2, 3):
            templates[k] = []
            for r in routers:
                tag = b"clbf" + struct.pack("!BBII", rep, k, 0, 0xFFFFFFFF)
                f = bytearray(down_probe(self.home_tx[k], r, tag))
                templates[k].append((f, f.find(tag) + 6))
        sent = {2: [], 3: []}     # send time of seq s at index s
        got = {2: {}, 3: {}}      # seq -> kernel receive time
        stop = threading.Event()
        rx = {k: self.acc_rx[k] for k in (2, 3)}
        for s in rx.values():
            s.drain()

        def receiver():
            prefix = b"clbf" + bytes([rep])
            while not stop.is_set() or time.time() < stop_at[0] + 0.5:
                readable, _, _ = select.select(list(rx.values()), [], [], 0.02)
                for k, sock in rx.items():
                    if sock not in readable:
                        continue
                    for ts, f in sock.drain():
                        t = tunneled(f)
                        if not t:
                            continue
                        at = t[3].find(prefix)
                        if at < 0 or at + 10 > len(t[3]):
                            continue
                        kk, seq = struct.unpack("!BI", t[3][at + 5:at + 10])
                        if kk == k:
                            got[k].setdefault(seq, ts)
                if stop.is_set() and time.time() >= stop_at[0] + 0.5:
                    return

        stop_at = [float("inf")]
        count = int((a.fail_before_s + 30) * a.fail_pps)

        def sender():
            nxt = time.time()
            s = 0
            while not stop.is_set() and s < count:
                now = time.time()
                if now < nxt:
                    time.sleep(nxt - now)
                for k in (2, 3):
                    f, at = templates[k][s % len(routers)]
                    f[at:at + 8] = struct.pack("!II", s, 0xFFFFFFFF - s)
                    sent[k].append(time.time())
                    self.home_tx[k].send(bytes(f))
                s += 1
                nxt += period
            stop_at[0] = time.time()

        threads = [threading.Thread(target=receiver, daemon=True), threading.Thread(target=sender, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(a.fail_before_s)
        self.instances[1].kill()
        killed = time.time()
        not_alive = {}

        def dead(k):
            try:
                ms = self.instances[k].show_cluster()["members"]
            except Exception:
                return False
            return any(m["instance"] == "ha1" and not m["alive"] for m in ms)
        while time.time() < killed + 20 and len(not_alive) < 2:
            for k in (2, 3):
                if k not in not_alive and dead(k):
                    not_alive[k] = time.time() - killed
            time.sleep(0.05)
        time.sleep(a.fail_after_s)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        end = killed + max(not_alive.values(), default=20)
        out = {"sent": {}, "lost": {}, "late_ms_p99": {}}
        for k in (2, 3):
            windows = {"before_kill": 0, "kill_to_not_alive": 0, "after": 0}
            lost = dict(windows)
            for s, ts in enumerate(sent[k]):
                w = "before_kill" if ts < killed else ("kill_to_not_alive" if ts < end else "after")
                windows[w] += 1
                if s not in got[k]:
                    lost[w] += 1
            out["sent"][k] = windows
            out["lost"][k] = lost
            transit = [(got[k][s] - sent[k][s]) * 1000 for s in got[k] if s < len(sent[k])]
            out["late_ms_p99"][k] = pct(transit, 0.99)
        out["sent_total"] = sum(len(sent[k]) for k in (2, 3))
        out["pps_per_instance"] = len(sent[2]) / max(1e-9, (stop_at[0] - (killed - a.fail_before_s)))
        out["not_alive_s"] = not_alive.get(2)
        out["not_alive_s_3"] = not_alive.get(3)
        out["routers"] = len(routers)
        out["show_cluster_2_members"] = self.instances[2].show_cluster()["members"]
        return out

    # ---------------------------------------------------------------------------------------------
    def etcd_sizes(self):
        out = {}
        for i in range(self.etcd.size):
            r = self.etcd.etcdctl("endpoint", "status", "-w", "json", members=[i])
            st = json.loads(r.stdout)[0]["Status"]
            out[i] = {"dbSize": st.get("dbSize"), "dbSizeInUse": st.get("dbSizeInUse"),
                      "revision": st["header"]["revision"]}
        return out

    def compact_defrag(self):
        rev = max(s["revision"] for s in self.etcd_sizes().values())
        r = self.etcd.etcdctl("compact", str(rev), "--physical")
        if r.returncode != 0:
            raise RuntimeError(f"etcdctl compact: {r.stderr.strip()}")
        for i in range(self.etcd.size):  # one member at a time (defrag blocks the member it runs on)
            r = self.etcd.etcdctl("defrag", members=[i], timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"etcdctl defrag m{i}: {r.stderr.strip()}")
        return rev

    def bench_db(self):
        n = len(self.db_routers)
        if n == 0:
            return
        resyncs0 = {k: self.instances[k].show_cluster()["watch"]["resyncs"] for k in (2, 3)}
        self.compact_defrag()
        base = self.etcd_sizes()
        keys0 = self.etcd.get_prefix(f"/nemo-ha/{CLUSTER}/")
        def cpu():
            out = {f"nemo-ha {k}": cpu_by_thread(inst.proc.pid) for k, inst in self.instances.items()}
            out.update({f"etcd m{i}": cpu_by_thread(p.pid) for i, p in enumerate(self.etcd.procs)})
            return out
        # The same threads' CPU over an idle stretch first: what they use anyway (polling, housekeeping).
        idle0, t_idle = cpu(), time.time()
        time.sleep(self.a.idle_s)
        idle1, t_idle = cpu(), time.time() - t_idle
        idle = {who: cpu_delta(idle1[who], idle0.get(who, {})) for who in idle1}
        events0 = {k: self.instances[k].show_cluster()["watch"]["events"] for k in (2, 3)}
        cpu0 = cpu()
        t0 = time.time()
        self.register(1, self.db_routers)
        took = time.time() - t0
        for k in (2, 3):
            self.wait_listed(k, self.db_routers, timeout=60)
        listed = time.time() - t0
        cpu1 = cpu()
        events1 = {k: self.instances[k].show_cluster()["watch"]["events"] for k in (2, 3)}
        cpu_used = {who: cpu_delta(cpu1[who], cpu0.get(who, {})) for who in cpu1}
        registered = self.etcd_sizes()
        self.register(1, self.db_routers)  # one refresh each: one more revision each
        refreshed = self.etcd_sizes()
        rev = self.compact_defrag()
        compacted = self.etcd_sizes()
        keys = self.etcd.get_prefix(f"/nemo-ha/{CLUSTER}/")
        new = {k: v for k, v in keys.items() if k not in keys0 and "/binding" in k}
        if not new:
            new = {k: v for k, v in keys.items() if k not in keys0}
        leases = self.etcd.etcdctl("lease", "list")
        lease_count = max(0, len(leases.stdout.strip().splitlines()) - 1) if leases.returncode == 0 else None
        for k in (2, 3):
            self.wait_listed(k, self.db_routers, timeout=60)
        resyncs1 = {k: self.instances[k].show_cluster()["watch"]["resyncs"] for k in (2, 3)}

        def per_1000(after, before, field):
            return {i: round((after[i][field] - before[i][field]) * 1000 / n) for i in after}
        self.results["db"] = {
            "bindings": n, "register_s": took, "bu_per_s_bulk": n / took,
            "sizes": {"base_compacted": base, "registered": registered, "refreshed": refreshed,
                      "compacted_defragged": compacted},
            "dbSize_per_1000_registered": per_1000(registered, base, "dbSize"),
            "dbSizeInUse_per_1000_registered": per_1000(registered, base, "dbSizeInUse"),
            "dbSizeInUse_per_1000_refresh": per_1000(refreshed, registered, "dbSizeInUse"),
            "dbSizeInUse_per_1000_live": per_1000(compacted, base, "dbSizeInUse"),
            "dbSize_per_1000_live": per_1000(compacted, base, "dbSize"),
            "compacted_at_revision": rev,
            "binding_keys": len(new),
            "key_bytes_mean": statistics.mean(len(k) for k in new) if new else None,
            "value_bytes_mean": statistics.mean(len(v) for v in new.values()) if new else None,
            "leases": lease_count,
            "resyncs_before": resyncs0, "resyncs_after": resyncs1,
            "cpu_s_during_registration": cpu_used,
            "cpu_s_idle": idle, "idle_s": t_idle,
            # The worker lcores (rte-worker-*) poll: their CPU time is whatever the scheduler leaves them.
            "cpu_us_per_binding_above_idle": {
                who: {t: round((v - idle[who].get(t, 0.0) * listed / t_idle) * 1e6 / n, 1) for t, v in threads.items()
                      if not t.startswith("rte-worker")}
                for who, threads in cpu_used.items()},
            "watch_events_during_registration": {k: events1[k] - events0[k] for k in (2, 3)},
            "registration_wall_s_to_listed": listed,
            "etcd_leader": f"m{self.etcd.leader()}",
            "watch_endpoints": {k: self.instances[k].show_cluster()["watch"]["endpoint"] for k in (1, 2, 3)},
            "etcd_endpoints": {f"m{i}": self.etcd.endpoint(i) for i in range(self.etcd.size)},
        }
        d = self.results["db"]
        say(f"etcd db: {n} bindings registered in {took:.2f} s; dbSizeInUse per 1000 bindings: "
            f"{d['dbSizeInUse_per_1000_registered']} B registered, +{d['dbSizeInUse_per_1000_refresh']} B per refresh "
            f"each, {d['dbSizeInUse_per_1000_live']} B live after compact+defrag; key {d['key_bytes_mean']} B, value "
            f"{d['value_bytes_mean']} B; {lease_count} leases; resyncs on 2/3 {resyncs0} -> {resyncs1}")
        say(f"CPU s while {n} bindings were registered through 1 and listed by 2 and 3 "
            f"(watch events at 2/3: {d['watch_events_during_registration']}; etcd leader {d['etcd_leader']}, watches on "
            f"{d['watch_endpoints']}):")
        for who, threads in cpu_used.items():
            above = d["cpu_us_per_binding_above_idle"][who]
            say(f"  {who}: " + ", ".join(f"{t} {v:.2f} s (idle {idle[who].get(t, 0.0) * listed / t_idle:.2f}: {above[t]} us "
                                         f"a binding above it)" for t, v in sorted(threads.items(), key=lambda kv: -kv[1])
                                         if t in above))


def summary(res):
    lines = []
    lag = res.get("lag")
    if lag:
        f = lambda s: f"{s['median']:.2f} ms [{s['min']:.2f} .. {s['max']:.2f}]" if s else "n/a"  # noqa: E731
        lines += [f"watch lag, BA 0 at the router (instance 1) -> instance 2 forwards, {res['config']['routers']} routers x "
                  f"{len(lag['repetitions'])} reps, probe every {res['config']['interval_ms']} ms:",
                  f"  median {f(lag['ba_to_fwd_median_ms'])}, p99 {f(lag['ba_to_fwd_p99_ms'])}",
                  f"  BU sent -> BA {f(lag['bu_to_ba_median_ms'])}; BU sent -> forwarded by 2 {f(lag['bu_to_fwd_median_ms'])}",
                  f"  show cluster on 2 (commit -> applied): median {f(lag['show_cluster_median_ms'])}, "
                  f"p99 {f(lag['show_cluster_p99_ms'])}; routers not measured: {lag['not_measured']}"]
    fo = res.get("failover")
    if fo:
        lines += [f"failover, instance 1 SIGKILLed, {len(fo['repetitions'])} reps: {fo['lost_total']} of "
                  f"{fo['sent_total']} downstream packets lost at instances 2 and 3",
                  "  instance 2 calls ha1 not alive after " + (
                      f"{fo['not_alive_s']['median']:.2f} s [{fo['not_alive_s']['min']:.2f} .. {fo['not_alive_s']['max']:.2f}]"
                      if fo["not_alive_s"] else "n/a")]
    db = res.get("db")
    if db:
        lines += [f"etcd db, {db['bindings']} bindings: dbSizeInUse per 1000: registered {db['dbSizeInUse_per_1000_registered']}, "
                  f"per refresh {db['dbSizeInUse_per_1000_refresh']}, live (compacted, defragged) "
                  f"{db['dbSizeInUse_per_1000_live']}; key {db['key_bytes_mean']} B, value {db['value_bytes_mean']} B, "
                  f"{db['leases']} leases"]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--routers", type=int, default=200, help="routers per lag repetition")
    p.add_argument("--lag-reps", type=int, default=5)
    p.add_argument("--interval-ms", type=float, default=2.0, help="probe interval at instance 2")
    p.add_argument("--fail-reps", type=int, default=3)
    p.add_argument("--fail-routers", type=int, default=30, help="instance 1's routers in each failover")
    p.add_argument("--fail-pps", type=float, default=500.0, help="downstream packets a second into each of 2 and 3")
    p.add_argument("--fail-before-s", type=float, default=2.0, help="stream this long before the kill")
    p.add_argument("--fail-after-s", type=float, default=2.0, help="stream this long after ha1 is not alive")
    p.add_argument("--db-routers", type=int, default=3000, help="bindings for the etcd size measurement (0: none)")
    p.add_argument("--idle-s", type=float, default=4.0, help="idle stretch for the CPU baseline")
    p.add_argument("--json", metavar="FILE")
    a = p.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 77
    if a.routers > 1000 or a.lag_reps * a.routers > 5000 or a.fail_reps * a.fail_routers > 6000 or a.db_routers > 30000:
        print("too many routers for the index ranges", file=sys.stderr)
        return 2

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    b = Bench(a)
    ok = False
    t0 = time.time()
    try:
        b.setup()
        b.results["machine"] = {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                                "etcd": subprocess.run(["/usr/bin/etcd", "--version"], capture_output=True,
                                                       text=True).stdout.split("\n")[0]}
        b.warm_up()
        b.bench_lag()
        b.bench_failover()
        b.bench_db()
        ok = True
    finally:
        bad = b.teardown(ok)
        if bad:
            say(f"instances that did not stop cleanly: {bad}")
    b.results["wall_s"] = time.time() - t0
    say("\n" + summary(b.results) + f"\n(wall {b.results['wall_s']:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(b.results, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
