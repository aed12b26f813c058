"""The Prometheus endpoint (metrics.listen) of the real nemo-ha in its namespace: a live scrape passes
`promtool check metrics`, names every control-plane counter and never an SA key; a real Prometheus
server, run in the same namespace, scrapes it every second and answers queries about counters this test
moves (a Binding Update accepted, one with a bad checksum dropped).

Run as root under /usr/bin/python3 (Debian's scapy), with Debian's prometheus (promtool, prometheus).
NEMO_NS_PREFIX names the namespaces (nemo_harness.ns_name)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import (HomeAgent, Topology, binary, binding_update, carries, exchange, netns,  # noqa: E402
                          ns_name, register, send_from, tunnel, tunnel_filter)
from scapy.all import IP, IPv6, raw  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA  # noqa: E402
from procs import stop_process  # noqa: E402

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
METRICS_PORT = 9464  # inside the test's own namespace: no other listener there
PROM_PORT = 9090
SA_HOA = "2001:db8:1::200"  # provisioned in the built-in configuration; its BUs stay unprotected-ok
IN_KEY = bytes.fromhex("5ec0de5ec0de5ec0de5ec0de5ec0de01a1b2c3d4")  # GCM-128 key and salt
OUT_KEY = bytes.fromhex("0badc0ffee0badc0ffee0badc0ffee02")
OUT_AUTH = bytes.fromhex("feedfacefeedfacefeedfacefeedface" "deadbeefdeadbeefdeadbeefdeadbe03")

TOPOLOGY = None
TMP = None


def setUpModule():
    global TOPOLOGY, TMP
    TMP = tempfile.mkdtemp(prefix="nemo-metrics-test-")
    TOPOLOGY = Topology().__enter__()


def tearDownModule():
    TOPOLOGY.__exit__(None, None, None)
    shutil.rmtree(TMP, ignore_errors=True)


def key_file(name, key):
    path = os.path.join(TMP, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return "@" + path


def http_get(port, path, method="GET", data=None):
    """(status, body) of a request to 127.0.0.1:port in the HA's namespace."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data)
    with netns("nemo-ha"):
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def scrape():
    status, body = http_get(METRICS_PORT, "/metrics")
    assert status == 200, status
    return body


def samples(text, name):
    """{frozenset of (label, value): value} of metric `name` in an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[labels] = float(m.group(4))
    return out


def value(text, name, **labels):
    want = set(labels.items())
    got = [v for k, v in samples(text, name).items() if want <= set(k)]
    assert len(got) == 1, f"{name}{labels}: {len(got)} series"
    return got[0]


class Prometheus:
    """A real Prometheus server in the HA's namespace, scraping nemo-ha every second."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=TMP)
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: nemo-ha\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{METRICS_PORT}']\n")
        check = subprocess.run([PROMTOOL, "check", "config", cfg], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns_name("nemo-ha"), PROMETHEUS, f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}", f"--web.listen-address=127.0.0.1:{PROM_PORT}",
             "--log.level=warn"], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("prometheus exited:\n" + self.output())
                try:
                    if http_get(PROM_PORT, "/-/ready")[0] == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.2)
            raise RuntimeError("prometheus did not become ready:\n" + self.output())
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def __exit__(self, *exc):
        stop_process(self.proc)
        self.log.close()

    def query(self, expr):
        """The instant vector of `expr`: [(labels, value)]."""
        status, body = http_get(PROM_PORT, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert status == 200, body
        r = json.loads(body)
        assert r["status"] == "success", r
        return [(s["metric"], float(s["value"][1])) for s in r["data"]["result"]]

    def wait_for(self, expr, pred, timeout=15):
        """Polls `expr` until one value satisfies pred; returns it (fails with the last answer)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.query(expr)
            for _, v in last:
                if pred(v):
                    return v
            time.sleep(0.3)
        raise AssertionError(f"{expr}: {last}")


class MetricsEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ha = HomeAgent(
            f"--metrics.listen=127.0.0.1:{METRICS_PORT}",
            # Our own EAL file prefix: another test's nemo-ha may run meanwhile.
            "--eal.args=--no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix=nemo-metrics-test "
            "--log-level=lib.eal:error --vdev=net_af_packet0,iface=ha-acc,qpairs=1 "
            "--vdev=net_af_packet1,iface=ha-home,qpairs=1",
            "--ha.methods=ipv6,ipip,gre,udp,esp,esp-udp",
            "--ipsec.allow_manual_gcm=yes",
            f"--ipsec.sa=in 0x1001 {SA_HOA} aes-gcm-128 enc={key_file('in', IN_KEY)}",
            f"--ipsec.sa=out 0x2001 {SA_HOA} aes-cbc-128-hmac-sha256 enc={key_file('out', OUT_KEY)} "
            f"auth={key_file('auth', OUT_AUTH)}",
        ).__enter__()
        cls.seq = 1000

    @classmethod
    def tearDownClass(cls):
        code = cls.ha.stop()
        assert code == 0, f"nemo-ha did not stop cleanly: {code}\n{cls.ha.output()}"

    def next_seq(self):
        type(self).seq += 1
        return type(self).seq

    def test_live_scrape_passes_promtool(self):
        text = scrape()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "", "no lint problem either")
        self.assertNotIn("# nemo-ha metrics error", text)

    def test_only_get_metrics(self):
        self.assertEqual(http_get(METRICS_PORT, "/")[0], 404)
        self.assertEqual(http_get(METRICS_PORT, "/metrics/x")[0], 404)
        self.assertEqual(http_get(METRICS_PORT, "/metrics", method="POST", data=b"x=1")[0], 405)

    def test_no_key_in_the_scrape_but_every_sa(self):
        text = scrape()
        lowered = text.lower()
        for key in (IN_KEY, OUT_KEY, OUT_AUTH):
            for piece in (key.hex(), key.hex()[:16], key[:8].hex(":")):
                self.assertNotIn(piece, lowered)
        self.assertNotIn(IN_KEY[:8].decode("latin-1"), text)
        # The SAs are there (so the search above had something to miss): by SPI and direction.
        info = samples(text, "nemo_ha_sa_info")
        self.assertEqual({(dict(k)["spi"], dict(k)["direction"], dict(k)["hoa"]) for k in info},
                         {("0x1001", "in", SA_HOA), ("0x2001", "out", SA_HOA)})
        self.assertEqual(value(text, "nemo_ha_sa_packets_total", spi="0x1001", direction="in"), 0)
        self.assertEqual(value(text, "nemo_ha_sa_dropped_total", spi="0x1001", reason="icv"), 0)
        self.assertEqual(value(text, "nemo_ha_sa_exhausted", spi="0x2001"), 0)

    def test_every_control_counter_named_and_equal_to_show_stats(self):
        text = scrape()
        stats = self.ha.ctl("show", "stats")["counters"]
        helps = "\n".join(line for line in text.splitlines() if line.startswith("# HELP "))
        for name in stats:
            self.assertTrue(re.search(rf"[ (]{re.escape(name)}[:)]", helps), f"{name} in no HELP")
        # Counters that nothing moves in between: the same value both ways.
        self.assertEqual(value(text, "nemo_ha_binding_acks_rejected_total", status="133"), stats["mip6HaNotHomeAgentForThisMN"])
        self.assertEqual(value(text, "nemo_ha_binding_acks_rejected_total", status="144"),
                         stats["nemoHaBUAcksTunnelMethodNotSupported"])
        self.assertEqual(value(text, "nemo_ha_binding_capacity"), 65536)

    def test_every_data_plane_counter_per_worker(self):
        text = scrape()
        dataplane = self.ha.ctl("show", "stats")["dataplane"]
        norm = lambda v: v.replace("-", "_")  # noqa: E731
        dropped = {dict(k)["reason"] for k in samples(text, "nemo_ha_worker_dropped_total")}
        classify = {norm(dict(k)["reason"]) for k in samples(text, "nemo_ha_worker_classify_dropped_total")}
        encap = {norm(dict(k)["method"]) for k in samples(text, "nemo_ha_worker_encapsulated_total")}
        decap = {norm(dict(k)["method"]) for k in samples(text, "nemo_ha_worker_decapsulated_total")}
        checked = 0
        for name in dataplane:
            if name.startswith(("control_", "port_")) or re.match(r"worker\d+_", name):
                continue  # per-worker and per-port sums, and the control thread's: by their own families
            if name.startswith("drop_"):
                self.assertIn(name[5:], classify, name)
            elif name.startswith("encap_"):
                self.assertIn(name[6:], encap, name)
            elif name.startswith("decap_"):
                self.assertIn(name[6:], decap, name)
            else:
                self.assertTrue(name in dropped or samples(text, f"nemo_ha_worker_{name}_total"), f"{name} not exported")
            checked += 1
        self.assertGreater(checked, 40)

    def test_health_of_the_control_loop_and_each_worker(self):
        first = scrape()
        time.sleep(1.2)
        second = scrape()
        self.assertGreater(value(second, "nemo_ha_control_loop_turns_total"), value(first, "nemo_ha_control_loop_turns_total"))
        self.assertLess(value(second, "nemo_ha_control_loop_last_turn_age_seconds"), 0.5)
        self.assertGreater(value(second, "nemo_ha_worker_polls_total", worker="0"), value(first, "nemo_ha_worker_polls_total", worker="0"))
        self.assertLess(value(second, "nemo_ha_worker_heartbeat_age_seconds", worker="0"), 1.5)
        self.assertLess(value(second, "nemo_ha_snapshot_age_seconds"), 1.5)
        self.assertEqual(set(dict(k)["port"] for k in samples(second, "nemo_ha_port_received_packets_total")), {"access", "home"})

    def test_classify_drop_per_worker_and_reason(self):
        # An IPv4 packet to the HA in no tunnel we speak (protocol 253, RFC 3692's experiments).
        before = value(scrape(), "nemo_ha_worker_classify_dropped_total", worker="0", reason="unsupported-tunnel")
        send_from("nemo-mr", IP(src="198.51.100.10", dst="198.51.100.1", proto=253) / (b"x" * 20))
        deadline = time.time() + 5
        while time.time() < deadline:
            now = value(scrape(), "nemo_ha_worker_classify_dropped_total", worker="0", reason="unsupported-tunnel")
            if now == before + 1:
                break
            time.sleep(0.1)
        self.assertEqual(now, before + 1)

    def test_prometheus_scrapes_and_answers_for_counters_moved(self):
        with Prometheus() as prom:
            # Scraped, healthy, and the counter known before the test moves it.
            prom.wait_for('up{job="nemo-ha"}', lambda v: v == 1)
            accepted = prom.wait_for("nemo_ha_binding_updates_accepted_total", lambda v: v >= 0)
            bad = prom.wait_for('nemo_ha_signaling_dropped_total{reason="bad_checksum"}', lambda v: v >= 0)

            outer, inner = register("ipip", self.next_seq())
            self.assertIsNotNone(inner, "no Binding Acknowledgement")
            self.assertEqual(inner[MIP6MH_BA].status, 0)
            self.assertEqual(prom.wait_for("nemo_ha_binding_updates_accepted_total", lambda v: v == accepted + 1), accepted + 1)
            self.assertEqual(prom.wait_for('nemo_ha_bindings{method="ipip"}', lambda v: v >= 1), 1)

            bu = IPv6(raw(binding_update(self.next_seq(), "ipip")))
            bu[IPv6].payload.cksum ^= 1
            self.assertEqual(exchange(tunnel("ipip", bu), tunnel_filter("ipip"), lfilter=carries("ipip", MIP6MH_BA),
                                      timeout=1.0), [])
            self.assertEqual(prom.wait_for('nemo_ha_signaling_dropped_total{reason="bad_checksum"}',
                                           lambda v: v == bad + 1), bad + 1)
            # Over the scrapes, as a dashboard asks: the BU seen as an increase, the workers' loops as a rate.
            inc = prom.query("increase(nemo_ha_binding_updates_accepted_total[1m])")
            self.assertTrue(inc and inc[0][1] > 0, inc)
            polls = prom.query('rate(nemo_ha_worker_polls_total{worker="0"}[5s])')
            self.assertTrue(polls and polls[0][1] > 100, polls)
            # Prometheus judged every scrape valid (none failed for the format).
            self.assertEqual(prom.query('up{job="nemo-ha"} == 0'), [])
            self.assertEqual(prom.query("scrape_samples_post_metric_relabeling")[0][1],
                             prom.query("scrape_samples_scraped")[0][1])

    def test_address_in_use_stops_a_second_daemon_clearly(self):
        r = subprocess.run(["ip", "netns", "exec", ns_name("nemo-ha"), binary("nemo-ha"),
                            f"--metrics.listen=127.0.0.1:{METRICS_PORT}", "--state.backend=none",
                            f"--cli.socket={os.path.join(TMP, 'second.sock')}",
                            "--eal.args=--no-huge -m 128 --no-pci --no-shconf -l 0-1 --file-prefix=nemo-metrics-second "
                            "--log-level=lib.eal:error --vdev=net_null0 --vdev=net_null1",
                            "--access.port=net_null0", "--home.port=net_null1"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"nemo-ha: metrics.listen: 127.0.0.1:{METRICS_PORT}: cannot listen: Address already in use", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
