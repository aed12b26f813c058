"""A 3-member etcd cluster (Debian's /usr/bin/etcd, 3.4) on loopback ports inside a network namespace, for
the cluster tests: nemo-ha instances in that namespace reach it on 127.0.0.1.

    with EtcdCluster("ncl-ha") as etcd:
        etcd.wait_healthy()
        etcd.endpoints()        # ["127.0.0.1:23791", "127.0.0.1:23792", "127.0.0.1:23793"]
        etcd.kill(0)            # SIGKILL: a crash
        etcd.restart(0)         # again on its own data directory
        etcd.wait_healthy()

Each member has a data directory and a log file (its stderr, zap's JSON lines) in a temporary directory of
the cluster's own, kept when anything went wrong. Elections are fast (heartbeat 50 ms, election timeout
500 ms) so that a test can lose and regain a leader in about a second. No scapy here; runs under any
python3.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procs import stop_process  # noqa: E402

ETCD = os.environ.get("NEMO_ETCD", "/usr/bin/etcd")
ETCDCTL = os.environ.get("NEMO_ETCDCTL", "/usr/bin/etcdctl")

# Every member any EtcdCluster started and has not stopped: stopped at exit as well, so that a test that
# dies on an exception (or a failed assertion outside a with block) leaves no etcd behind.
_LIVE = set()


def _stop_leftovers():
    for proc in list(_LIVE):
        stop_process(proc, timeout=5)
        _LIVE.discard(proc)


atexit.register(_stop_leftovers)


class EtcdCluster:
    def __init__(self, ns, size=3, client_base=23791, peer_base=23801, max_txn_ops=10000, token=None):
        self.ns = ns
        self.size = size
        self.client_ports = [client_base + i for i in range(size)]
        self.peer_ports = [peer_base + i for i in range(size)]
        self.max_txn_ops = max_txn_ops
        self.dir = tempfile.mkdtemp(prefix="nemo-etcd-")
        self.token = token or f"nemo-test-{os.getpid()}"
        self.names = [f"m{i}" for i in range(size)]
        self.procs = [None] * size
        self.ok = False  # set by the test once it passed: only then is the directory removed

    # ------------------------------------------------------------------------------------------------
    def data_dir(self, i):
        return os.path.join(self.dir, f"{self.names[i]}.data")

    def log_path(self, i):
        return os.path.join(self.dir, f"{self.names[i]}.log")

    def endpoint(self, i):
        return f"127.0.0.1:{self.client_ports[i]}"

    def endpoints(self, members=None):
        return [self.endpoint(i) for i in (range(self.size) if members is None else members)]

    def args(self, i):
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        client = f"http://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        return ["ip", "netns", "exec", self.ns, ETCD,
                "--name", self.names[i],
                "--data-dir", self.data_dir(i),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",   # ignored once the data directory holds a member
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--max-txn-ops", str(self.max_txn_ops),
                "--logger", "zap", "--log-outputs", "stderr"]

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def running(self):
        return [i for i in range(self.size) if self.alive(i)]

    # ------------------------------------------------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc):
        self.stop()
        if exc_type is None and self.ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"etcd: kept {self.dir} (data and logs)", flush=True)

    def start(self, wait=True):
        for i in range(self.size):
            self.start_member(i)
        if wait:
            self.wait_healthy()
        return self

    def start_member(self, i):
        if self.alive(i):
            raise RuntimeError(f"etcd member {i} is running already")
        with open(self.log_path(i), "a") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n")
            log.flush()
            self.procs[i] = subprocess.Popen(self.args(i), stdout=log, stderr=subprocess.STDOUT)
        _LIVE.add(self.procs[i])

    def kill(self, i):
        """SIGKILL member i (a crash: nothing flushed, no leader transfer)."""
        proc = self.procs[i]
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        _LIVE.discard(proc)
        return proc.returncode

    def restart(self, i, wait=False):
        """Starts member i again on its own data directory (after kill() or a stop); with `wait`, returns
        once the running members are healthy."""
        if self.alive(i):
            self.kill(i)
        self.start_member(i)
        if wait:
            self.wait_healthy()

    def stop(self):
        """Stops every member (SIGTERM, a bounded wait, SIGKILL); returns their exit statuses."""
        codes = []
        for proc in self.procs:
            if proc is not None:
                codes.append(stop_process(proc, timeout=10))
                _LIVE.discard(proc)
        return codes

    # ------------------------------------------------------------------------------------------------
    def etcdctl(self, *args, members=None, timeout=10):
        """etcdctl (API 3) in the namespace against `members` (default: every member); CompletedProcess."""
        env = dict(os.environ, ETCDCTL_API="3")
        cmd = ["ip", "netns", "exec", self.ns, ETCDCTL, "--endpoints=" + ",".join(self.endpoints(members)),
               "--dial-timeout=1s", "--command-timeout=2s", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(cmd, 124, e.stdout or "", f"etcdctl timed out: {e}")

    def health(self, members=None):
        """{member index: (healthy, error)} as `etcdctl endpoint health` says for each of `members`."""
        members = list(range(self.size)) if members is None else list(members)
        r = self.etcdctl("endpoint", "health", "-w", "json", members=members)
        try:
            rows = json.loads(r.stdout) if r.stdout.strip() else []
        except json.JSONDecodeError:
            rows = []
        by_ep = {row.get("endpoint", "").replace("http://", ""): row for row in rows}
        out = {}
        for i in members:
            row = by_ep.get(self.endpoint(i))
            out[i] = (bool(row and row.get("health")), (row or {}).get("error") or ("no answer: " + r.stderr.strip()))
        return out

    def status(self, members=None):
        """{member index: the member's `endpoint status` (member id, leader id, revision, raft term) or None}."""
        members = list(range(self.size)) if members is None else list(members)
        out = {}
        for i in members:  # one at a time: etcdctl leaves out of its JSON an endpoint that does not answer
            r = self.etcdctl("endpoint", "status", "-w", "json", members=[i])
            try:
                st = json.loads(r.stdout)[0]["Status"]
                out[i] = {"member": st["header"]["member_id"], "leader": st["leader"],
                          "revision": st["header"]["revision"], "term": st["raftTerm"]}
            except (json.JSONDecodeError, IndexError, KeyError, TypeError):
                out[i] = None
        return out

    def leader(self, members=None):
        """The index of the member every one of `members` (default: those running) names as leader, or None."""
        members = self.running() if members is None else list(members)
        st = self.status(members)
        if any(s is None for s in st.values()) or not st:
            return None
        leaders = {s["leader"] for s in st.values()}
        if len(leaders) != 1:
            return None
        ids = {s["member"]: i for i, s in st.items()}
        return ids.get(leaders.pop())

    def wait_healthy(self, members=None, timeout=30):
        """Waits until each of `members` (default: those running) answers `endpoint health` (which needs a
        quorum: it reads through raft) and they agree on a leader among them; returns the leader's index."""
        members = self.running() if members is None else list(members)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for i in members:
                if not self.alive(i):
                    raise RuntimeError(f"etcd member {i} exited with {self.procs[i].returncode}:\n{self.tail(i)}")
            last = self.health(members)
            if all(ok for ok, _ in last.values()):
                leader = self.leader(members)
                if leader is not None:
                    return leader
                last = {"leader": "the members do not agree on a leader among them"}
            time.sleep(0.1)
        raise RuntimeError(f"etcd members {members} not healthy within {timeout} s: {last}\n"
                           + "\n".join(self.tail(i) for i in members))

    def wait_unhealthy(self, members=None, timeout=15):
        """Waits until none of `members` (default: those running) can serve a linearizable read (no quorum)."""
        members = self.running() if members is None else list(members)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not any(ok for ok, _ in self.health(members).values()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"etcd members {members} still healthy after {timeout} s")

    def get_prefix(self, prefix, members=None):
        """{key: value} of every key under `prefix` (etcdctl get --prefix), read through `members`."""
        r = self.etcdctl("get", "--prefix", prefix, "-w", "json", members=members)
        if r.returncode != 0:
            raise RuntimeError(f"etcdctl get --prefix {prefix}: {r.stderr}")
        import base64
        kvs = json.loads(r.stdout).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode(errors="replace"): base64.b64decode(kv.get("value", ""))
                for kv in kvs}

    def tail(self, i, lines=15):
        try:
            with open(self.log_path(i), errors="replace") as f:
                return f"--- {self.log_path(i)} ---\n" + "".join(f.readlines()[-lines:])
        except OSError:
            return ""
