#!/usr/bin/python3
"""strongswan.py, the harness that will run strongSwan as the mobile router's IKEv2 initiator against
nemo-ha, checked against itself: two charons (kernel-libipsec, user-space ESP in UDP 4500) in namespaces
sw-a and sw-b joined by a veth pair (10.77.0.1/24, 10.77.0.2/24). sw-a initiates an IKE SA over IPv4 with
a CHILD_SA for IPv6 selectors (2001:db8:a::1/128 === ::/0); ping6 2001:db8:a::1 -> 2001:db8:b::1 goes
through both TUN devices. PSK (ecp256, AES-GCM) and certificates (make_pki: an RSA and an ECDSA leaf).

    /usr/bin/python3 tests/integration/test_strongswan_harness.py -v   (as root)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strongswan  # noqa: E402
from strongswan import Charon, make_pki, pki_certs, psk_secret, swanctl_conn  # noqa: E402

NS_A, NS_B = "sw-a", "sw-b"
IF_A, IF_B = "swa0", "swb0"
V4_A, V4_B = "10.77.0.1", "10.77.0.2"
V6_A, V6_B = "2001:db8:a::1", "2001:db8:b::1"
PSK = "sw-harness-psk-0123456789"

HAVE_STRONGSWAN = all(os.path.exists(p) for p in (strongswan.CHARON, strongswan.SWANCTL))


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_ns(ns, *args, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, **kw)


def ping(count=1, interval=0.2, wait=1, ns=NS_A, src=V6_A, dst=V6_B):
    """ping6 from `src`; the number of replies."""
    r = in_ns(ns, "ping", "-6", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", str(wait),
              "-I", src, dst)
    for line in r.stdout.splitlines():
        if "received" in line:
            return int(line.split(",")[1].split()[0])
    return 0


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (namespaces)")
    if not HAVE_STRONGSWAN:
        raise unittest.SkipTest("strongSwan not installed (strongswan-charon strongswan-swanctl "
                                "libcharon-extra-plugins ...)")
    tearDownModule()
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", IF_A, "netns", NS_A, "type", "veth", "peer", "name", IF_B, "netns", NS_B)
    for ns, dev, v4, v6 in ((NS_A, IF_A, V4_A, V6_A), (NS_B, IF_B, V4_B, V6_B)):
        sh("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        # The mobile network's address: on lo is enough for get_address_by_ts (the route's source).
        sh("ip", "-n", ns, "addr", "add", f"{v6}/128", "dev", "lo")


def tearDownModule():
    for ns in (NS_A, NS_B):
        if os.path.exists(f"/run/netns/{ns}"):
            sh("ip", "netns", "del", ns, check=False)


def child_ts(local, remote):
    return {"net": {"local_ts": local, "remote_ts": remote}}


class Pair:
    """The two charons of one test, their work dirs removed afterwards."""

    def __init__(self, auth="psk", pki=None, local_ts=f"{V6_A}/128", **conn_kw):
        self.dir = tempfile.mkdtemp(prefix="sw-harness-")
        os.chmod(self.dir, 0o700)
        self.a = Charon(NS_A, os.path.join(self.dir, "a"), name="r1")
        self.b = Charon(NS_B, os.path.join(self.dir, "b"), name="ha")
        if auth == "psk":
            secrets = psk_secret("r1", PSK) + psk_secret("ha", PSK)
            certs_a = certs_b = None
            a_kw = b_kw = {}
        else:
            secrets = ""
            certs_a, certs_b = pki_certs(pki, "r1"), pki_certs(pki, "ha")
            a_kw = {"local_certs": "r1.pem", "remote_cacerts": "ca.pem"}
            b_kw = {"local_certs": "ha.pem", "remote_cacerts": "ca.pem"}
        self.a.write_config(swanctl_conn("ha", V4_A, V4_B, "r1", "ha", auth=auth,
                                         children=child_ts(local_ts, "::/0"), **a_kw, **conn_kw),
                            secrets, certs_a)
        # The responder's side as nemo-ha will have it: anything of ours to the router's address.
        self.b.write_config(swanctl_conn("mr", V4_B, V4_A, "ha", "r1", auth=auth,
                                         children=child_ts("::/0", local_ts), **b_kw, **conn_kw),
                            secrets, certs_b)

    def close(self):
        for c in (self.a, self.b):
            c.stop()
        if not os.environ.get("SW_KEEP_DIRS"):  # to read the logs afterwards (they hold keys: chd = 4)
            shutil.rmtree(self.dir, ignore_errors=True)


def check_keys(self, a, b, child_a, encr_len=20, integ_len=0):
    """Both charons derived the same keys for the CHILD_SA child_a (a's view): a's outbound is b's
    inbound and the other way; compared in memory, never printed."""
    ka = {k["spi_in"]: k for k in a.derived_esp_keys()}
    kb = {k["spi_in"]: k for k in b.derived_esp_keys()}
    # (SPIs only in messages: the dicts hold keys)
    self.assertTrue(child_a["spi-in"] in ka, f"a: no keys for {child_a['spi-in']:08x} in {[f'{s:08x}' for s in ka]}")
    self.assertTrue(child_a["spi-out"] in kb, f"b: no keys for {child_a['spi-out']:08x} in {[f'{s:08x}' for s in kb]}")
    mine, theirs = ka[child_a["spi-in"]], kb[child_a["spi-out"]]
    self.assertEqual((mine["spi_out"], theirs["spi_out"]), (theirs["spi_in"], mine["spi_in"]))
    # AES-128-GCM: the key and the 4-byte salt (RFC 4106); AES-256-CBC: 32 bytes, HMAC-SHA-256: 32.
    self.assertEqual((len(mine["encr_out"]), len(mine["integ_out"])), (encr_len, integ_len))
    self.assertTrue(mine["integ_out"] == theirs["integ_in"], "a's outbound integrity key differs")
    self.assertTrue(mine["integ_in"] == theirs["integ_out"], "a's inbound integrity key differs")
    self.assertTrue(mine["encr_out"] == theirs["encr_in"], "a's outbound key differs from b's inbound")
    self.assertTrue(mine["encr_in"] == theirs["encr_out"], "a's inbound key differs from b's outbound")
    self.assertFalse(mine["encr_in"] == mine["encr_out"])
    self.assertNotEqual(mine["initiator"], theirs["initiator"])
    # log_text() does not show them.
    dump = " ".join(f"{x:02X}" for x in mine["encr_out"][:8])
    self.assertIn(dump, a.log_text(keys=True))
    self.assertNotIn(dump, a.log_text())



def one_child(sas):
    """The single installed CHILD_SA of the single established IKE SA, or None."""
    if len(sas) == 1 and sas[0]["state"] == "ESTABLISHED":
        kids = [c for c in sas[0]["children"] if c["state"] == "INSTALLED"]
        if len(kids) == 1:
            return kids[0]
    return None


class TestPure(unittest.TestCase):
    """The parts without charon: vici's encoding, swanctl.conf text, the log parser."""

    def test_vici_round_trip(self):
        msg = {"child": "net", "timeout": "5000", "sec": {"k": "v", "inner": {"x": "1"}}, "l": ["a", "b"]}
        self.assertEqual(strongswan._vici_decode(strongswan._vici_encode(msg)), msg)

    def test_swanctl_conn_gives_each_child_a_reqid(self):
        text = swanctl_conn("c", "10.0.0.1", "10.0.0.2", "r1", "ha",
                            children={"x": {"local_ts": "::/0"}, "y": {"reqid": 77}})
        reqids = [line.split("=")[1].strip() for line in text.splitlines() if line.strip().startswith("reqid")]
        self.assertEqual(len(reqids), 2)
        self.assertIn("77", reqids)
        self.assertNotEqual(reqids[0], reqids[1])
        self.assertIn("encap = yes", text)
        self.assertIn("esp_proposals = aes128gcm16-noesn", text)

    def test_key_parser_and_redaction(self):
        # Two threads interleaved, as charon's worker threads write: keys go with their own thread's SAs.
        log = "\n".join([
            "Dec  2 18:00:00 07[ENC] <r1|1> parsed IKE_AUTH response 1 [ IDr AUTH SA TSi TSr ]",
            "Dec  2 18:00:00 09[ENC] <x|2> parsed IKE_AUTH request 1 [ IDi AUTH SA TSi TSr ]",
            "Dec  2 18:00:00 07[CHD] <r1|1> encryption initiator key => 4 bytes @ 0x7f00",
            "Dec  2 18:00:00 09[CHD] <x|2> encryption initiator key => 4 bytes @ 0x7f10",
            "Dec  2 18:00:00 07[CHD] <r1|1>    0: 01 02 03 04                                      ....",
            "Dec  2 18:00:00 09[CHD] <x|2>    0: 11 12 13 14                                      ....",
            "Dec  2 18:00:00 07[CHD] <r1|1> encryption responder key => 4 bytes @ 0x7f20",
            "Dec  2 18:00:00 07[CHD] <r1|1>    0: 05 06 07 08                                      ....",
            "Dec  2 18:00:00 07[CHD] <r1|1> adding inbound ESP SA",
            "Dec  2 18:00:00 07[CHD] <r1|1>   SPI 0xc0000001, src 10.77.0.2 dst 10.77.0.1",
            "Dec  2 18:00:00 07[CHD] <r1|1> adding outbound ESP SA",
            "Dec  2 18:00:00 07[CHD] <r1|1>   SPI 0xc0000002, src 10.77.0.1 dst 10.77.0.2",
        ])
        keys = strongswan._parse_child_keys(log)
        self.assertEqual(len(keys), 1)  # thread 09 installed nothing
        k = keys[0]
        self.assertTrue(k["initiator"])
        self.assertEqual((k["spi_in"], k["spi_out"]), (0xc0000001, 0xc0000002))
        self.assertEqual(k["encr_out"], bytes([1, 2, 3, 4]))
        self.assertEqual(k["encr_in"], bytes([5, 6, 7, 8]))
        red = strongswan._redact(log)
        for dump in ("01 02 03 04", "11 12 13 14", "05 06 07 08"):
            self.assertNotIn(dump, red)
        self.assertIn("adding outbound ESP SA", red)


@unittest.skipUnless(os.geteuid() == 0 and HAVE_STRONGSWAN, "needs root and strongSwan")
class TestPsk(unittest.TestCase):
    def setUp(self):
        self.pair = Pair()
        self.addCleanup(self.pair.close)

    def test_ipv6_in_ipv4_esp_rekeys_keys_kill(self):
        a, b = self.pair.a, self.pair.b
        host_pid_file = os.path.exists("/run/charon.pid")
        t0 = time.monotonic()
        b.start()
        a.start()
        self.assertTrue(a.initiate("net", ike="ha", timeout=10), a.log_text()[-4000:])
        first = None
        while time.monotonic() - t0 < 10:
            if ping(wait=1):
                first = time.monotonic() - t0
                break
        self.assertIsNotNone(first, "no ping reply through the tunnel")
        sys.stderr.write(f"\n  [two charons started, IKE SA + CHILD_SA, first ping6 answered: {first:.2f} s] ")

        # Two charons, nothing shared: each pid file in its own /run, each vici socket its own.
        for c in (a, b):
            self.assertEqual(os.readlink(f"/proc/{c.pid}/exe"), strongswan.CHARON)
            with open(os.path.join(c.rundir, "charon.pid")) as f:
                self.assertEqual(int(f.read()), c.pid)
            with open(f"/proc/{c.pid}/mountinfo") as f:
                self.assertIn(c.rundir, f.read())
            self.assertEqual(c.tun_device, "ipsec0")
            self.assertIn(c.tun_device, c.ns_tun_devices())
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(a.workdir, f.read())
        self.assertEqual(os.path.exists("/run/charon.pid"), host_pid_file)
        self.assertIn("ha", a.swanctl("--list-conns").stdout)
        self.assertNotIn("mr:", a.swanctl("--list-conns").stdout)
        self.assertIn("mr:", b.swanctl("--list-conns").stdout)

        # The IKE SA as nemo-ha will see it: IPv4, floated to 4500, the configured algorithms.
        sas = a.list_sas()
        self.assertEqual(len(sas), 1)
        ike = sas[0]
        self.assertEqual((ike["state"], ike["local-host"], ike["remote-host"], ike["remote-port"]),
                         ("ESTABLISHED", V4_A, V4_B, 4500))
        self.assertEqual((ike["encr-alg"], ike["encr-keysize"], ike["prf-alg"], ike["dh-group"]),
                         ("AES_GCM_16", 128, "PRF_HMAC_SHA2_256", "ECP_256"))
        self.assertEqual(ike["initiator"], "yes")
        ca, cb = one_child(sas), one_child(b.list_sas())
        self.assertIsNotNone(ca)
        self.assertIsNotNone(cb)
        self.assertEqual((ca["local-ts"], ca["remote-ts"]), ([f"{V6_A}/128"], ["::/0"]))
        self.assertEqual((ca["encap"], ca["mode"], ca["encr-alg"]), ("yes", "TUNNEL", "AES_GCM_16"))
        self.assertEqual((ca["spi-in"], ca["spi-out"]), (cb["spi-out"], cb["spi-in"]))
        self.assertEqual(b.list_sas()[0]["initiator-spi"], ike["initiator-spi"])
        # kernel-libipsec's routes into the TUN: table 220, IPv6 over an IPv4 IKE SA, the source address
        # found in the local selector (none for ::/0 at b).
        routes_a = sh("ip", "-n", NS_A, "-6", "route", "show", "table", "220").stdout
        routes_b = sh("ip", "-n", NS_B, "-6", "route", "show", "table", "220").stdout
        self.assertIn(f"default dev ipsec0 proto static src {V6_A}", routes_a)
        self.assertIn(f"{V6_A} dev ipsec0", routes_b)

        # Traffic is counted where it went: 5 echo requests out of a, in at b, replies back.
        before_a, before_b = ca, cb
        self.assertEqual(ping(count=5, interval=0.05), 5)
        ca, cb = one_child(a.list_sas()), one_child(b.list_sas())
        self.assertGreaterEqual(ca["packets-out"] - before_a["packets-out"], 5)
        self.assertGreaterEqual(cb["packets-in"] - before_b["packets-in"], 5)
        self.assertGreaterEqual(ca["packets-in"] - before_a["packets-in"], 5)
        self.assertGreaterEqual(ca["bytes-out"] - before_a["bytes-out"], 5 * 64)

        check_keys(self, a, b, ca)

        # A CHILD_SA rekeying with a ping running through it.
        pinger = self.start_pinger()
        old = ca
        a.rekey(child="net")
        new = a.wait_for(lambda sas: (c := one_child(sas)) and c["spi-in"] != old["spi-in"] and c, timeout=10)
        self.assertIsNotNone(new, "no new CHILD_SA after rekey")
        self.assertIsNotNone(b.wait_for(lambda sas: (c := one_child(sas)) and c["spi-in"] == new["spi-out"]))
        self.assertEqual(new["reqid"], old["reqid"])
        time.sleep(0.3)  # the pinger's packets on the new SAs (the old one is deleted by now)
        self.assertGreaterEqual(ping(count=3, interval=0.05), 3)
        self.assertGreaterEqual(one_child(a.list_sas())["packets-out"], 3)
        check_keys(self, a, b, one_child(a.list_sas()))
        # The rekeying was initiated by a: its latest keys say so.
        self.assertTrue(a.derived_esp_keys()[-1]["initiator"])
        self.assertFalse(b.derived_esp_keys()[-1]["initiator"])

        # The responder rekeys the CHILD_SA too (the HA will): keys match with the roles swapped.
        old = one_child(b.list_sas())
        b.rekey(child="net")
        self.assertIsNotNone(b.wait_for(lambda sas: (c := one_child(sas)) and c["spi-in"] != old["spi-in"]))
        self.assertIsNotNone(a.wait_for(lambda sas: (c := one_child(sas)) and c["spi-out"] != old["spi-out"]
                                        and c["spi-out"] == one_child(b.list_sas())["spi-in"]))
        time.sleep(0.3)
        check_keys(self, a, b, one_child(a.list_sas()))
        self.assertFalse(a.derived_esp_keys()[-1]["initiator"])

        # An IKE rekeying: new IKE SPIs, the CHILD_SA moves over unchanged, traffic goes on.
        old_ike = a.list_sas()[0]
        old_child = one_child([old_ike])
        a.rekey(ike="ha")
        got = a.wait_for(lambda sas: len(sas) == 1 and sas[0]["initiator-spi"] != old_ike["initiator-spi"]
                         and one_child(sas) and sas, timeout=10)
        self.assertIsNotNone(got, "no new IKE SA after rekey")
        self.assertEqual(one_child(got)["spi-in"], old_child["spi-in"])
        self.assertIsNotNone(b.wait_for(lambda sas: len(sas) == 1
                                        and sas[0]["initiator-spi"] == got[0]["initiator-spi"]))
        self.assertEqual(ping(count=3, interval=0.05), 3)
        time.sleep(0.3)
        sent, received = self.stop_pinger(pinger)
        sys.stderr.write(f"[ping through 2 CHILD rekeys and 1 IKE rekey: {received}/{sent}] ")
        self.assertGreater(sent, 20)
        self.assertGreaterEqual(received, sent - 2)

        # The router dies: nothing of it left; the responder still holds its SAs (no DELETE came).
        a.kill()
        self.assertEqual(a.leftovers(), [])
        self.assertFalse(os.path.exists(os.path.join(a.rundir, "charon.pid")))
        self.assertEqual(len(b.list_sas()), 1)
        self.assertEqual(ping(wait=1), 0)
        # ... and comes back in the same namespace and work dir (no stale pid file, socket, rule).
        a.start()
        self.assertTrue(a.initiate("net", ike="ha", timeout=10), a.log_text(since_start=True)[-4000:])
        self.assertTrue(any(ping(wait=1) for _ in range(5)))
        # A clean stop deletes the SAs at the peer too.
        a.stop()
        self.assertEqual(a.leftovers(), [])
        self.assertIsNotNone(b.wait_for(lambda sas: not sas and [True], timeout=5), "b kept the SA")
        b.stop()
        self.assertEqual(b.leftovers(), [])

    def test_home_address_and_mobile_network_prefix(self):
        """The router's case: local selectors HoA/128 and MNP/48. kernel-libipsec needs an address of the
        namespace inside each local selector to route into the TUN; without one in the /48 the CHILD_SA
        is not installed."""
        mnp, mnp_addr = "2001:db8:a0::/48", "2001:db8:a0::1"
        pair = Pair(local_ts=[f"{V6_A}/128", mnp])
        self.addCleanup(pair.close)
        pair.b.start()
        pair.a.start()
        self.assertFalse(pair.a.initiate("net", ike="ha", timeout=10))
        self.assertIn(f"error installing route with policy {mnp} === ::/0 out", pair.a.log_text())
        self.assertEqual(pair.a.list_sas()[0]["children"], [])
        sh("ip", "-n", NS_A, "addr", "add", f"{mnp_addr}/128", "dev", "lo")
        self.addCleanup(sh, "ip", "-n", NS_A, "addr", "del", f"{mnp_addr}/128", "dev", "lo", check=False)
        self.assertTrue(pair.a.initiate("net", ike="ha", timeout=10), pair.a.log_text()[-3000:])
        c = one_child(pair.a.list_sas())
        self.assertEqual(sorted(c["local-ts"]), sorted([f"{V6_A}/128", mnp]))
        self.assertEqual(ping(wait=1), 1)
        self.assertEqual(ping(src=mnp_addr, wait=1), 1)

    def start_pinger(self):
        """ping6 every 20 ms in the background, while the SAs are rekeyed."""
        proc = subprocess.Popen(["ip", "netns", "exec", NS_A, "ping", "-6", "-n", "-q", "-i", "0.02", "-W", "1",
                                 "-I", V6_A, V6_B], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def stop_pinger(self, proc):
        """SIGINT, then (sent, received) from ping's summary."""
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=10)
        for line in out.splitlines():
            if "received" in line:
                parts = line.split(",")
                return int(parts[0].split()[0]), int(parts[1].split()[0])
        return 0, 0


@unittest.skipUnless(os.geteuid() == 0 and HAVE_STRONGSWAN and os.path.exists(strongswan.PKI),
                     "needs root, strongSwan and strongswan-pki")
class TestCertificates(unittest.TestCase):
    def test_rsa_router_ecdsa_home_agent(self):
        d = tempfile.mkdtemp(prefix="sw-pki-")
        self.addCleanup(shutil.rmtree, d, True)
        t = time.monotonic()
        pki = make_pki(d, "sw test CA")
        sys.stderr.write(f"\n  [make_pki: {time.monotonic() - t:.2f} s] ")
        self.assertEqual(pki["r1"]["type"], "rsa")
        self.assertEqual(oct(os.stat(pki["ha"]["key"]).st_mode & 0o777), "0o600")
        # Not AEAD this time, so that the integrity keys are compared as well.
        pair = Pair(auth="pubkey", pki=pki, proposals="aes256-sha256-ecp384", esp_proposals="aes256-sha256-noesn")
        self.addCleanup(pair.close)
        pair.b.start()
        pair.a.start()
        self.assertTrue(pair.a.initiate("net", ike="ha", timeout=10), pair.a.log_text()[-4000:])
        self.assertTrue(any(ping(wait=1) for _ in range(5)))
        sas = pair.a.list_sas()
        self.assertEqual((sas[0]["local-id"], sas[0]["remote-id"]), ("r1", "ha"))
        log = pair.b.log_text()
        self.assertIn("authentication of 'r1' with RSA", log)
        self.assertIn("authentication of 'ha' (myself) with ECDSA", log)
        self.assertIn(f"CN={'sw test CA'}", pair.a.swanctl("--list-certs").stdout)
        self.assertEqual((sas[0]["encr-alg"], sas[0]["encr-keysize"], sas[0]["dh-group"]), ("AES_CBC", 256, "ECP_384"))
        c = one_child(sas)
        self.assertIsNotNone(c)
        self.assertEqual((c["encr-alg"], c["integ-alg"]), ("AES_CBC", "HMAC_SHA2_256_128"))
        self.assertGreaterEqual(c["packets-out"], 1)
        check_keys(self, pair.a, pair.b, c, encr_len=32, integ_len=32)

        # terminate: the CHILD_SA first (the IKE SA stays), then the IKE SA, both gone at the peer too.
        self.assertTrue(pair.a.terminate(child="net"))
        self.assertIsNotNone(pair.b.wait_for(lambda s: len(s) == 1 and not s[0]["children"] and s))
        self.assertEqual(pair.a.list_sas()[0]["children"], [])
        self.assertEqual(ping(wait=1), 0)
        self.assertTrue(pair.a.terminate(ike="ha"))
        self.assertEqual(pair.a.list_sas(), [])
        self.assertIsNotNone(pair.b.wait_for(lambda s: not s and [True]))

    def test_wrong_ca_is_refused(self):
        d = tempfile.mkdtemp(prefix="sw-pki-")
        self.addCleanup(shutil.rmtree, d, True)
        good = make_pki(os.path.join(d, "good"), "sw good CA", leaves=[("r1", "ecdsa"), ("ha", "ecdsa")])
        rogue = make_pki(os.path.join(d, "rogue"), "sw rogue CA", leaves=[("r1", "ecdsa")])
        pair = Pair(auth="pubkey", pki=good)
        self.addCleanup(pair.close)
        # The router presents a certificate for r1 from a CA the responder does not trust.
        pair.a.write_config(
            swanctl_conn("ha", V4_A, V4_B, "r1", "ha", auth="pubkey", local_certs="r1.pem",
                         children=child_ts(f"{V6_A}/128", "::/0")),
            "", dict(pki_certs(rogue, "r1"), **{"x509ca/ca.pem": pki_certs(good, "r1")["x509ca/ca.pem"]}))
        pair.b.start()
        pair.a.start()
        self.assertFalse(pair.a.initiate("net", ike="ha", timeout=5))
        self.assertIn("no trusted ECDSA public key found for 'r1'", pair.b.log_text())
        self.assertEqual(pair.b.list_sas(), [])
        self.assertEqual(ping(wait=1), 0)


if __name__ == "__main__":
    unittest.main()
