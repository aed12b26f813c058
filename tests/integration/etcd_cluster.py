"""A 3-member etcd cluster (Debian's /usr/bin/etcd, 3.4) on loopback ports inside a network namespace, for
the cluster tests: nemo-ha instances in that namespace reach it on 127.0.0.1.

    with EtcdCluster("ncl-ha") as etcd:
        etcd.wait_healthy()
        etcd.endpoints()        # ["127.0.0.1:23791", "127.0.0.1:23792", "127.0.0.1:23793"]
        etcd.kill(0)            # SIGKILL: a crash
        etcd.restart(0)         # again on its own data directory
        etcd.wait_healthy()

Each member has a data directory and a log file (its stderr, zap's JSON lines) in a temporary directory of
the cluster's own, kept when anything went wrong. Elections take one to three seconds (heartbeat 150 ms, election
timeout 1500 ms, etcd's defaults 100/1000 raised a little): fast enough for a test to lose and regain a leader, slow enough that a machine loaded by
the sanitizer build does not hold elections of its own (with 50/500 ms it did, in CI, and the leader an
instance listed was then an old one). No scapy here; runs under any
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
    def __init__(self, ns, size=3, client_base=23791, peer_base=23801, max_txn_ops=10000, token=None, tls=False):
        self.ns = ns
        self.tls = tls
        self.size = size
        self.client_ports = [client_base + i for i in range(size)]
        self.peer_ports = [peer_base + i for i in range(size)]
        self.max_txn_ops = max_txn_ops
        self.dir = tempfile.mkdtemp(prefix="nemo-etcd-")
        self.token = token or f"nemo-test-{os.getpid()}"
        self.names = [f"m{i}" for i in range(size)]
        self.procs = [None] * size
        self.ok = False  # set by the test once it passed: only then is the directory removed
        if tls:
            self.make_certs()

    # ------------------------------------------------------------------------------------------------
    # TLS: with tls=True clients must show a certificate of the cluster's own CA (--client-cert-auth);
    # the members talk to each other in the clear (peers are not what the tests exercise).
    def make_certs(self):
        """A CA, the members' certificate (for 127.0.0.1) and a client certificate, made with openssl in
        the cluster's directory; the private keys are files only their owner may read, never printed."""
        d = os.path.join(self.dir, "pki")
        os.makedirs(d, mode=0o700)
        self.ca_file = os.path.join(d, "ca.crt")
        self.server_cert, self.server_key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
        self.client_cert, self.client_key = os.path.join(d, "client.crt"), os.path.join(d, "client.key")
        ca_key = os.path.join(d, "ca.key")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        old = os.umask(0o077)
        try:
            self._openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca_file, "-days", "2",
                          "-subj", "/CN=nemo-ha test etcd CA")
            for name, cert, key, usage in (("127.0.0.1", self.server_cert, self.server_key, "serverAuth,clientAuth"),
                                           ("nemo-ha", self.client_cert, self.client_key, "clientAuth")):
                csr, ext = cert + ".csr", cert + ".ext"
                with open(ext, "w") as f:
                    f.write(f"subjectAltName = IP:127.0.0.1\nextendedKeyUsage = {usage}\n")
                self._openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
                self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", ca_key, "-CAcreateserial",
                              "-out", cert, "-days", "2", "-extfile", ext)
        finally:
            os.umask(old)

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True)
        if r.returncode != 0:  # openssl's messages name files, never a key's contents
            raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()[-500:]}")

    def secret_texts(self):
        """The private keys' PEM bodies: what must never show up in a log or a command's output."""
        out = []
        for key in (self.server_key, self.client_key) if self.tls else ():
            with open(key) as f:
                out += [line.strip() for line in f if line.strip() and not line.startswith("-----")]
        return out

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
        client = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        tls = ["--cert-file", self.server_cert, "--key-file", self.server_key, "--trusted-ca-file", self.ca_file,
               "--client-cert-auth"] if self.tls else []
        return ["ip", "netns", "exec", self.ns, ETCD, *tls,
                "--name", self.names[i],
                "--data-dir", self.data_dir(i),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",   # ignored once the data directory holds a member
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", "150", "--election-timeout", "1500",
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
        scheme = "https://" if self.tls else "http://"
        tls = [f"--cacert={self.ca_file}", f"--cert={self.client_cert}", f"--key={self.client_key}"] if self.tls else []
        cmd = ["ip", "netns", "exec", self.ns, ETCDCTL,
               "--endpoints=" + ",".join(scheme + e for e in self.endpoints(members)),
               "--dial-timeout=1s", "--command-timeout=2s", *tls, *args]
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
        by_ep = {row.get("endpoint", "").replace("https://", "").replace("http://", ""): row for row in rows}
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
