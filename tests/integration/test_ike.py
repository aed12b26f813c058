#!/usr/bin/python3
"""nemo-ha's IKEv2 responder against a real initiator: strongSwan's charon (tests/integration/strongswan.py,
kernel-libipsec: user-space ESP, always in UDP 4500) in the router's namespace nemo-mr initiates to the
HA's 198.51.100.1 with a PSK; its CHILD_SA carries the router's home address and mobile network
(2001:db8:1::100/128 and 2001:db8:aaaa::/48, both on lo in nemo-mr) to anything (::/0). The router's
S+U Binding Update (the draft's IPv4 CoA option, S and U set) is an IPv6 packet written into the
namespace's kernel with a raw socket, so that it goes through charon's TUN like any other; the BA comes
back through the TUN to a raw MH socket. Then UDP and ping between the mobile network and the
correspondent 2001:db8:1::cc.

Cases: default proposals end to end; every DH group, IKE cipher and ESP transform; CHILD_SA and IKE SA
rekeys under a 20 ms ping (no loss); liveness after the router dies (--ike.dpd_s=2 --ike.retransmits=2);
another router's selectors refused (TS_UNACCEPTABLE); a wrong PSK and an unknown identity; MOBIKE (the
care-of address moves from .10 to .11); no key bytes (as charon derived them) in nemo-ha's log or CLI.

    /usr/bin/python3 tests/integration/test_ike.py -v   (as root) [TestClass.test_name]
"""
import errno
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

os.environ.setdefault("NEMO_NS_PREFIX", "ki-")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strongswan  # noqa: E402
from nemo_harness import CN, COA, HA4, HA6, HOA, MNP_A, HomeAgent, Topology, binding_update, netns, ns_name  # noqa: E402
from nemo_scapy import V4_S, V4_U  # noqa: E402
from scapy.all import raw  # noqa: E402
from strongswan import Charon, make_pki, pki_certs, psk_secret, swanctl_conn  # noqa: E402

MNN = "2001:db8:aaaa::1"   # the mobile network's host address (on lo in nemo-mr)
MNN2 = "2001:db8:cccc::1"  # the other router's (the same charon plays both)
HOA2 = "2001:db8:1::200"   # another router's home address
HOA3 = "2001:db8:1::300"
COA2 = "198.51.100.11"     # where the router moves (MOBIKE)
PSK1 = "r1-preshared-key-0123456789"
PSK2 = "r2-preshared-key-9876543210"
PSK3 = "r3-preshared-key-abcdefabcdef"
CHILD_TS = {"local_ts": [f"{HOA}/128", "2001:db8:aaaa::/48"], "remote_ts": "::/0"}
HAVE_STRONGSWAN = all(os.path.exists(p) for p in (strongswan.CHARON, strongswan.SWANCTL))

TOPOLOGY = None
WORK = None


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr}")
    return r


def mr(*args, check=True):
    return sh("ip", "netns", "exec", ns_name("nemo-mr"), *args, check=check)


def setUpModule():
    global TOPOLOGY, WORK
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (namespaces)")
    if not HAVE_STRONGSWAN:
        raise unittest.SkipTest("strongSwan not installed")
    TOPOLOGY = Topology().__enter__()
    WORK = tempfile.mkdtemp(prefix="ki-ike-")
    try:
        # The router's side: IPv6 for lo and for the TUN charon makes (the topology disables it), the home
        # address and the mobile network's host address on lo (charon's routes need a source inside each
        # local selector), no simulated NAT address (MOBIKE would pick among them), and secondaries
        # promoted when the primary goes (the MOBIKE test deletes .10).
        mr("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.lo.disable_ipv6=0",
           "net.ipv4.conf.all.promote_secondaries=1", "net.ipv4.conf.mr0.promote_secondaries=1")
        mr("ip", "addr", "del", "198.51.100.20/24", "dev", "mr0", check=False)
        # The kernel's UDP (charon's IKE and ESP-in-UDP, the CN's UDP) over a veth leaves its checksum to
        # an offload that never happens; nemo-ha's AF_PACKET port would count it malformed (README, demo).
        mr("ethtool", "-K", "mr0", "tx", "off")
        sh("ip", "netns", "exec", ns_name("nemo-cn"), "ethtool", "-K", "cn0", "tx", "off")
        for a in (HOA, MNN, HOA2, MNN2):
            mr("ip", "-6", "addr", "add", f"{a}/128", "dev", "lo", "nodad")
    except Exception:
        TOPOLOGY.__exit__(None, None, None)
        raise


def tearDownModule():
    if TOPOLOGY:
        TOPOLOGY.__exit__(None, None, None)
    # charon's logs hold the keys (0600): removed unless asked to keep them for a look.
    if WORK and not os.environ.get("KI_KEEP_LOGS"):
        shutil.rmtree(WORK, ignore_errors=True)


def ha_config(directory):
    """nemo-ha's configuration: the demo's, the routers with IKE identities, S and S+U, signaling
    protected, IKE on with a PSK file (0600)."""
    psk = os.path.join(directory, "psk")
    with open(psk, "w") as f:
        f.write(f"fqdn:r1.example {PSK1}\nfqdn:r2.example {PSK2}\nfqdn:r3.example {PSK3}\n")
    os.chmod(psk, 0o600)
    path = os.path.join(directory, "nemo-ha.ini")
    with open(path, "w") as f:
        f.write(f"""[ha]
ipv6 = {HA6}
ipv4 = {HA4}
home_prefix = 2001:db8:1::/64
methods = ipv6,ipip,gre,udp,esp,esp-udp
max_lifetime = 600
allow_unprotected_signaling = no

[provisioning]
mr = {HOA} router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb::/48 ike-id=fqdn:r1.example
mr = {HOA2} router prefixes=2001:db8:cccc::/48 ike-id=fqdn:r2.example
mr = {HOA3} router prefixes=2001:db8:dddd::/48 ike-id=fqdn:r3.example

[eal]
args = --no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix={ns_name('nemo-ha')} --log-level=lib.eal:error --vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1

[access]
port = net_af_packet0

[home]
port = net_af_packet1

[ike]
enabled = yes
psk_file = {psk}
""")
    return path


def r1_conn(name="r1", child="net", proposals="aes128gcm16-prfsha256-ecp256", esp="aes128gcm16-noesn",
            local_id="r1.example", ts=None, **kw):
    return swanctl_conn(name, "%any", HA4, local_id, HA4, proposals=proposals, esp_proposals=esp,
                        children={child: dict(ts or CHILD_TS)}, **kw)


# Each secret names both identities: charon takes the secret matching most of them (one matching the
# HA's identity alone would tie with every other).
SECRETS = (psk_secret(("r1.example", HA4), PSK1, name="r1")
           + psk_secret(("r2.example", HA4), PSK2, name="r2")
           + psk_secret(("r3.example", HA4), "r3-but-not-the-right-one-000", name="r3")
           + psk_secret(("ghost.example", HA4), "ghost-preshared-key-000000", name="ghost"))


# ---------------------------------------------------------------------------------------------------
# the router's side: BUs through the TUN, traffic to the CN
# ---------------------------------------------------------------------------------------------------
def send_bu(seq, coa=COA, hoa=HOA, prefix=MNP_A, timeout=3.0):
    """Writes the S+U BU (IPv4 CoA option with S and U, port 4500) from `hoa` to HA6 into nemo-mr's
    kernel, which routes it into charon's TUN; returns (status, seq) of the BA that came back to `hoa`,
    or None."""
    bu = raw(binding_update(seq, V4_S | V4_U, coa=coa, port=4500, prefixes=(prefix,), hoa=hoa))
    with netns("nemo-mr"):
        rx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
        tx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        # charon installs its routes into the TUN a moment after the CHILD_SA (after a reauthentication,
        # break-before-make, there is a gap with none): until then the kernel has no route to HA6.
        route_deadline = time.monotonic() + 3.0
        while True:
            try:
                tx.sendto(bu, (HA6, 0))
                break
            except OSError as e:
                if e.errno != errno.ENETUNREACH or time.monotonic() > route_deadline:
                    raise
                time.sleep(0.05)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            rx.settimeout(left)
            try:
                data, addr = rx.recvfrom(2048)
            except socket.timeout:
                return None
            # The MH without its IPv6 header: proto, len, type (6: BA), reserved, checksum, status, flags, seq.
            if len(data) >= 12 and data[2] == 6 and addr[0] == HA6:
                status, ba_seq = data[6], struct.unpack(">H", data[8:10])[0]
                if ba_seq == seq:
                    return status, ba_seq
    finally:
        rx.close()
        tx.close()


def udp_roundtrip(up, down, timeout=1.0, src=MNN):
    """UDP from the mobile network's host address to the CN and back: (what the CN received, from
    which address, what came back), None where nothing arrived."""
    with netns("nemo-mr"):
        s_mr = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s_mr.bind((src, 0))
    with netns("nemo-cn"):
        s_cn = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s_cn.bind((CN, 0))
    try:
        port = s_cn.getsockname()[1]
        s_cn.settimeout(timeout)
        s_mr.settimeout(timeout)
        s_mr.sendto(up, (CN, port))
        try:
            got_up, addr = s_cn.recvfrom(4096)
        except socket.timeout:
            return None, None, None
        s_cn.sendto(down, addr)
        try:
            got_down = s_mr.recv(4096)
        except socket.timeout:
            got_down = None
        return got_up, addr[0], got_down
    finally:
        s_mr.close()
        s_cn.close()


def ping(count=3, interval=0.2, deadline=None, src=MNN):
    """ping from the mobile network to the CN: (transmitted, received)."""
    args = ["ping", "-6", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "1", "-I", src, CN]
    if deadline:
        args[1:1] = ["-w", str(deadline)]
    r = mr(*args, check=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def ping_start(count, interval, src=MNN):
    return subprocess.Popen(["ip", "netns", "exec", ns_name("nemo-mr"), "ping", "-6", "-n", "-q", "-c", str(count),
                             "-i", str(interval), "-W", "1", "-I", src, CN],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until(check, timeout=10.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class IkeTestCase(unittest.TestCase):
    ha_overrides = ()
    seq = 1000

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ki-case-", dir=WORK)
        cls.ha = HomeAgent(f"--config={ha_config(cls.dir)}", *cls.ha_overrides).__enter__()
        cls.charon = Charon(ns_name("nemo-mr"), os.path.join(cls.dir, "charon"), name="r1")
        cls.charon.write_config(cls.conns(), SECRETS, certs=cls.charon_certs())
        cls.charon.start()

    @classmethod
    def conns(cls):
        return r1_conn()

    @classmethod
    def charon_certs(cls):
        return None

    failed = False

    def tearDown(self):
        result = self._outcome.result
        if any(getattr(test, "test_case", test) is self for test, _ in result.failures + result.errors):
            type(self).failed = True

    @classmethod
    def tearDownClass(cls):
        if cls.charon.running():
            cls.charon.stop()
        code = cls.ha.stop()
        if cls.failed or code != 0 or os.environ.get("KI_KEEP_LOGS"):
            os.environ["KI_KEEP_LOGS"] = "1"  # charon's too (tearDownModule)
            print(f"\nnemo-ha's log: {cls.ha.log}; charon's (0600, holds keys): {cls.charon.log_path}",
                  file=sys.stderr)
        else:
            shutil.rmtree(cls.ha.dir, ignore_errors=True)
        assert code == 0, f"nemo-ha did not stop cleanly: {code}"

    def next_seq(self):
        type(self).seq += 1
        return type(self).seq

    def show_ike(self, *which):
        return self.ha.ctl("show", "ike", *which)

    def ike_stats(self):
        return self.ha.ctl("show", "stats")["ike"]

    def negotiated_sas(self):
        # No SA typed by hand in this configuration: all of show sa's were negotiated.
        return self.ha.ctl("show", "sa")["sas"]

    def clean_slate(self):
        """No IKE SA at either end."""
        for sa in self.charon.list_sas():
            self.charon.terminate(ike=sa["name"], force=True, timeout=3)
        self.ha.ctl_raw("clear", "ike", "all")
        self.assertTrue(wait_until(lambda: not self.show_ike() and not self.charon.list_sas(), timeout=5),
                        f"IKE SAs left: {self.show_ike()} / {self.charon.list_sas()}")

    def established(self, hoa=HOA):
        sas = [s for s in self.show_ike() if s["state"] == "established" and s["hoa"] == hoa]
        return sas[0] if len(sas) == 1 else None

    def up(self, child="net", ike="r1", timeout=10):
        self.assertTrue(self.charon.initiate(child, ike=ike, timeout=timeout),
                        f"charon could not initiate {ike}/{child}:\n{self.charon.log_text(since_start=True)[-4000:]}")

    def register(self, coa=COA, hoa=HOA, prefix=MNP_A, nat=None):
        seq = self.next_seq()
        got = send_bu(seq, coa=coa, hoa=hoa, prefix=prefix)
        if got is None:  # the first may wait for neighbour resolution somewhere
            seq = self.next_seq()
            got = send_bu(seq, coa=coa, hoa=hoa, prefix=prefix)
        self.assertIsNotNone(got, "no BA came back through the TUN")
        self.assertEqual(got, (0, seq), "BA status/sequence")
        b = self.ha.bindings().get(hoa)
        self.assertIsNotNone(b, "no binding")
        self.assertEqual((b["method"], b["care_of"]), ("esp-udp", coa))
        # Where nemo-ha sends: the BU's outer source (a NAT's address and port, RFC 3948) or the CoA.
        self.assertEqual((b["peer"], b["peer_port"], b["behind_nat"]), nat + (True,) if nat else (coa, 4500, False))
        return b

    def traffic(self, tries=12, src=MNN):
        """UDP both ways, payloads compared at each end; returns after the first success (the first
        datagram may wait for the HA's neighbour resolution of the CN: tries 0.25 s apart)."""
        for i in range(tries):
            up, down = f"ike-up-{i}-".encode() * 8, f"ike-down-{i}-".encode() * 8
            got_up, came_from, got_down = udp_roundtrip(up, down, timeout=0.25, src=src)
            if got_up is not None and got_down is not None:
                self.assertEqual(got_up, up)
                self.assertEqual(came_from, src)
                self.assertEqual(got_down, down)
                return
        self.fail(f"no UDP round trip MNP <-> CN (last: up {got_up is not None}, down {got_down is not None})")


# Every IKE cipher with every DH group, the ESP transforms in turn (each three times): one charon, one
# connection each.
IKE_CIPHERS = ("aes128gcm16-prfsha256", "aes256gcm16-prfsha256", "aes128-sha256-prfsha256")
DH_GROUPS = ("ecp256", "x25519", "modp2048")
ESP_TRANSFORMS = ("aes128gcm16-noesn", "aes256gcm16-noesn", "aes128-sha256-noesn")
COMBINATIONS = tuple((f"{c}-{g}", ESP_TRANSFORMS[i % 3])
                     for i, (c, g) in enumerate([(c, g) for c in IKE_CIPHERS for g in DH_GROUPS]))


class IkeInterop(IkeTestCase):
    COMBINATIONS = COMBINATIONS

    @classmethod
    def conns(cls):
        text = r1_conn(rekey_time="0")
        for i, (proposals, esp) in enumerate(cls.COMBINATIONS):
            text += r1_conn(f"alg{i}", child=f"alg{i}", proposals=proposals, esp=esp)
        # A KE for a group nemo-ha does not do (ecp384) first: INVALID_KE_PAYLOAD names ecp256, charon retries.
        text += r1_conn("ke", child="ke", proposals="aes128gcm16-prfsha256-ecp384-ecp256")
        # A second router (r2: its HoA and 2001:db8:cccc::/48) from the same charon.
        text += swanctl_conn("r2", "%any", HA4, "r2.example", HA4, children={"r2": {
            "local_ts": [f"{HOA2}/128", "2001:db8:cccc::/48"], "remote_ts": "::/0"}})
        # The CHILD_SA rekeyed with a Diffie-Hellman exchange of its own (PFS).
        text += r1_conn("pfs", child="pfs", esp="aes256gcm16-ecp256-noesn", rekey_time="0")
        # r1 asking for r2's home address.
        text += r1_conn("evil", child="evil", ts={"local_ts": f"{HOA2}/128", "remote_ts": "::/0"})
        text += swanctl_conn("r3", "%any", HA4, "r3.example", HA4, children={"r3": dict(CHILD_TS)})
        text += swanctl_conn("ghost", "%any", HA4, "ghost.example", HA4, children={"ghost": dict(CHILD_TS)})
        return text

    def setUp(self):
        self.clean_slate()

    def test_1_default_proposals_end_to_end(self):
        t0 = time.monotonic()
        self.up()
        t_ike = time.monotonic()
        sas = self.show_ike()
        self.assertEqual(len(sas), 1, sas)
        sa = sas[0]
        self.assertEqual((sa["state"], sa["id"], sa["hoa"], sa["peer"]),
                         ("established", "fqdn:r1.example", HOA, COA))
        self.assertEqual(sa["local_port"], 4500, "charon floats to 4500 (fake NAT detection)")
        self.assertEqual(sa["algorithms"], "aes-gcm16-128/prf-hmac-sha256/ecp256")
        self.assertEqual(len(sa["children"]), 1, sa)
        child = sa["children"][0]
        self.assertFalse(child["esn"])
        self.assertEqual(child["outbound"], "installed")
        # Both ends agree on the SPIs.
        csa = self.charon.list_sas("r1")[0]
        self.assertEqual(int(sa["spi_i"], 16), csa["initiator-spi"])
        self.assertEqual(int(sa["spi_r"], 16), csa["responder-spi"])
        cchild = csa["children"][0]
        self.assertEqual(int(child["spi_in"], 16), cchild["spi-out"])
        self.assertEqual(int(child["spi_out"], 16), cchild["spi-in"])
        self.assertEqual(sorted(cchild["local-ts"]), sorted([f"{HOA}/128", "2001:db8:aaaa::/48"]))
        # The SA table has them, the inbound one for the home address.
        spis = {s["spi"]: s for s in self.negotiated_sas()}
        self.assertIn(int(child["spi_in"], 16), spis, self.ha.ctl("show", "sa"))
        self.assertIn(int(child["spi_out"], 16), spis)
        self.assertGreaterEqual(self.ike_stats()["ike_established"], 1)
        # show ike's filters: by identity, home address and SPI; nothing for another.
        for which in ("fqdn:r1.example", HOA, sa["spi_r"]):
            self.assertEqual([s["spi_r"] for s in self.show_ike(which)], [sa["spi_r"]], which)
        self.assertEqual(self.show_ike(HOA2), [])
        st = self.ike_stats()
        self.assertEqual((st["ike_sas"], st["ike_sas_half_open"], st["ike_child_sas"]), (1, 0, 1))
        self.register()
        t_bu = time.monotonic()
        self.traffic()
        t_first = time.monotonic()
        self.assertGreater(self.show_ike()[0]["children"][0]["packets_in"], 0)
        print(f"\n  IKE_SA_INIT+IKE_AUTH {1000 * (t_ike - t0):.0f} ms, BU/BA {1000 * (t_bu - t_ike):.0f} ms, "
              f"set-up to first UDP round trip {1000 * (t_first - t0):.0f} ms", file=sys.stderr)
        self.assertEqual(ping(count=5, interval=0.1), (5, 5))

    def test_2_every_group_cipher_and_transform(self):
        want_alg = {"aes128gcm16-prfsha256": "aes-gcm16-128/prf-hmac-sha256",
                    "aes256gcm16-prfsha256": "aes-gcm16-256/prf-hmac-sha256",
                    "aes128-sha256-prfsha256": "aes-cbc-128/prf-hmac-sha256/hmac-sha256-128"}
        want_group = {"ecp256": "ecp256", "x25519": "curve25519", "modp2048": "modp2048"}
        esp_seen = {}
        for i, (proposals, esp) in enumerate(self.COMBINATIONS):
            cipher, group = proposals.rsplit("-", 1)
            with self.subTest(ike=proposals, esp=esp):
                self.clean_slate()
                t0 = time.monotonic()
                self.up(child=f"alg{i}", ike=f"alg{i}")
                sa = self.established()
                self.assertIsNotNone(sa, self.show_ike())
                self.assertEqual(sa["algorithms"], f"{want_alg[cipher]}/{want_group[group]}")
                self.assertEqual(len(sa["children"]), 1)
                esp_seen.setdefault(esp, set()).add(sa["children"][0]["algorithm"])
                self.register()
                got = ping(count=2, interval=0.2)
                self.assertGreaterEqual(got[1], 1, f"no ping through {proposals} / {esp}")
                print(f"\n  {proposals} / {esp}: up to ping in {1000 * (time.monotonic() - t0):.0f} ms "
                      f"({sa['children'][0]['algorithm']})", file=sys.stderr)
        with self.subTest(ike="ecp384 first (INVALID_KE)"):
            self.clean_slate()
            before = self.ike_stats()
            self.up(child="ke", ike="ke")
            sa = self.established()
            self.assertIsNotNone(sa, self.show_ike())
            self.assertEqual(sa["algorithms"], "aes-gcm16-128/prf-hmac-sha256/ecp256")
            self.assertEqual(self.ike_stats()["ike_invalid_ke"] - before["ike_invalid_ke"], 1)
            self.register()
            self.assertGreaterEqual(ping(count=2, interval=0.2)[1], 1)
        # Three ESP transforms, three names in show ike.
        self.assertEqual(len(esp_seen), 3, esp_seen)
        self.assertEqual(len(set().union(*esp_seen.values())), 3, esp_seen)

    def test_3_rekeys_under_traffic(self):
        self.up()
        self.register()
        self.traffic()
        before = self.ike_stats()
        first = self.established()
        spis_seen = {first["children"][0]["spi_in"]}
        ike_spis_seen = {first["spi_r"]}
        # A 20 ms ping for the whole sequence (about 12 s): three CHILD_SA rekeys, two IKE SA rekeys,
        # then one more CHILD_SA rekey on the rekeyed IKE SA.
        pinger = ping_start(count=600, interval=0.02)
        try:
            time.sleep(1)
            for what in ("child", "child", "ike", "child", "ike", "child"):
                if what == "child":
                    self.charon.rekey(child="net")
                    new = wait_until(lambda: (s := self.established()) and s["children"]
                                     and s["children"][0]["spi_in"] not in spis_seen and len(s["children"]) == 1 and s)
                    self.assertTrue(new, f"no new CHILD_SA after rekey: {self.show_ike()}")
                    spis_seen.add(new["children"][0]["spi_in"])
                else:
                    self.charon.rekey(ike="r1")
                    new = wait_until(lambda: (s := self.established()) and s["spi_r"] not in ike_spis_seen and s)
                    self.assertTrue(new, f"no new IKE SA after rekey: {self.show_ike()}")
                    ike_spis_seen.add(new["spi_r"])
                time.sleep(1.5)
            out, _ = pinger.communicate(timeout=30)
        finally:
            if pinger.poll() is None:
                pinger.kill()
                pinger.wait()
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        self.assertIsNotNone(m, out)
        sent, got = int(m.group(1)), int(m.group(2))
        print(f"\n  rekeys under a 20 ms ping: {sent} sent, {got} answered", file=sys.stderr)
        self.assertEqual(sent, 600)
        self.assertEqual(got, sent, f"lost {sent - got} of {sent} across the rekeys")
        after = self.ike_stats()
        self.assertEqual(after["ike_child_rekeyed"] - before["ike_child_rekeyed"], 4)
        self.assertEqual(after["ike_rekeyed"] - before["ike_rekeyed"], 2)
        sa = self.established()
        self.assertEqual(len(self.show_ike()), 1, "the old IKE SAs are gone")
        self.assertEqual(len(sa["children"]), 1, "the old CHILD_SAs are gone")
        self.assertEqual(sa["children"][0]["outbound"], "installed")
        self.assertGreater(sa["children"][0]["packets_in"], 0, "the ping went on over the newest CHILD_SA")
        self.assertEqual(sa["ike_rekeys"], 2, sa)
        # The SA table holds only the current pair (old SAs deleted).
        mine = {s["spi"] for s in self.negotiated_sas()}
        self.assertEqual(mine, {int(sa["children"][0]["spi_in"], 16), int(sa["children"][0]["spi_out"], 16)})
        # charon agrees: its one installed CHILD_SA (a rekeyed one may linger a moment) is nemo-ha's.
        csa = self.charon.list_sas("r1")
        self.assertEqual(len(csa), 1, csa)
        self.assertEqual(int(sa["spi_r"], 16), csa[0]["responder-spi"])
        installed = wait_until(lambda: [c for c in self.charon.list_sas("r1")[0]["children"] if c["state"] == "INSTALLED"])
        self.assertEqual([(c["spi-in"], c["spi-out"]) for c in installed],
                         [(int(sa["children"][0]["spi_out"], 16), int(sa["children"][0]["spi_in"], 16))],
                         [(c["state"], hex(c["spi-in"])) for c in self.charon.list_sas("r1")[0]["children"]])

    def test_5_other_routers_selectors_refused(self):
        before = self.ike_stats()
        sas_before = self.negotiated_sas()
        self.assertFalse(self.charon.initiate("evil", ike="evil", timeout=8), "a CHILD_SA for another HoA")
        self.assertIn("TS_UNACCEPTABLE", self.charon.log_text(since_start=True))
        after = self.ike_stats()
        self.assertEqual(after["ike_ts_unacceptable"] - before["ike_ts_unacceptable"], 1)
        self.assertEqual(after["ike_child_installed"], before["ike_child_installed"])
        self.assertEqual(self.negotiated_sas(), sas_before)
        for sa in self.show_ike():
            self.assertEqual(sa["children"], [], sa)
            self.assertNotEqual(sa["hoa"], HOA2)

    def test_6_wrong_psk_and_unknown_identity(self):
        before = self.ike_stats()
        log_at = len(self.charon.log_text())
        self.assertFalse(self.charon.initiate("r3", ike="r3", timeout=8), "authenticated with a wrong PSK")
        self.assertIn("AUTHENTICATION_FAILED", self.charon.log_text()[log_at:])
        mid = self.ike_stats()
        self.assertEqual(mid["ike_auth_failed"] - before["ike_auth_failed"], 1)
        self.assertEqual(mid["ike_established"], before["ike_established"])
        self.assertFalse([s for s in self.show_ike() if s["state"] == "established"], self.show_ike())
        self.assertEqual(self.show_ike("fqdn:r3.example"), [])
        self.assertFalse(self.charon.initiate("ghost", ike="ghost", timeout=8), "an unknown identity got in")
        after = self.ike_stats()
        self.assertEqual(after["ike_unknown_identity"] - mid["ike_unknown_identity"], 1)
        self.assertEqual(after["ike_established"], before["ike_established"])
        self.assertFalse([s for s in self.show_ike() if s["state"] == "established"], self.show_ike())
        self.assertEqual(self.negotiated_sas(), [])
        # Nothing half-open left behind by the refused IKE_AUTHs either.
        self.assertEqual(self.show_ike(), [])
        self.assertEqual((after["ike_sas"], after["ike_sas_half_open"]), (0, 0))

    def test_7_mobike(self):
        self.up()
        self.register()
        self.traffic()
        before = self.ike_stats()
        self.assertTrue(self.established()["mobike"])
        try:
            mr("ip", "addr", "add", f"{COA2}/24", "dev", "mr0")
            mr("ip", "addr", "del", f"{COA}/24", "dev", "mr0")
            moved = wait_until(lambda: (s := self.established()) and s["peer"] == COA2 and s, timeout=15)
            # charon's path probe from the new address, sent before UPDATE_SA_ADDRESSES, was answered the
            # first time (to where it came from, not to the SA's old address).
            self.assertEqual(self.ike_stats()["ike_retransmit_answered"], before["ike_retransmit_answered"])
            self.assertTrue(moved, f"show ike's peer did not follow: {self.show_ike()}\n"
                            f"{self.charon.log_text(since_start=True)[-3000:]}")
            self.assertGreaterEqual(self.ike_stats()["ike_mobike_updates"] - before["ike_mobike_updates"], 1)
            self.register(coa=COA2)
            self.traffic()
            self.assertEqual(ping(count=3, interval=0.1), (3, 3))
        finally:
            mr("ip", "addr", "add", f"{COA}/24", "dev", "mr0", check=False)
            mr("ip", "addr", "del", f"{COA2}/24", "dev", "mr0", check=False)
            time.sleep(1)

    def test_8_pfs_rekey_and_deletes_both_ways(self):
        self.up(child="pfs", ike="pfs")
        self.register()
        first = self.established()["children"][0]
        self.assertEqual(first["pfs"], "none", "IKE_AUTH's CHILD_SA has no KE of its own")
        before = self.ike_stats()
        self.charon.rekey(child="pfs")
        new = wait_until(lambda: (s := self.established()) and len(s["children"]) == 1
                         and s["children"][0]["spi_in"] != first["spi_in"] and s["children"][0])
        self.assertTrue(new, f"no rekeyed CHILD_SA: {self.show_ike()}")
        self.assertEqual(new["pfs"], "ecp256")
        self.assertEqual(self.ike_stats()["ike_child_rekeyed"] - before["ike_child_rekeyed"], 1)
        self.traffic()
        self.assertEqual(ping(count=3, interval=0.1), (3, 3))
        # charon deletes the CHILD_SA alone: nemo-ha drops its SAs, keeps the IKE SA; a new CHILD_SA on
        # it (CREATE_CHILD_SA, not a rekey) carries the traffic again.
        mid = self.ike_stats()
        self.assertTrue(self.charon.terminate(child="pfs", timeout=5))
        self.assertTrue(wait_until(lambda: (s := self.established()) and not s["children"] and not self.negotiated_sas()),
                        f"{self.show_ike()} {self.negotiated_sas()}")
        self.assertEqual(self.ike_stats()["ike_child_deleted"] - mid["ike_child_deleted"], 1)
        self.assertTrue(self.charon.initiate("pfs", ike="pfs", timeout=5))
        child = wait_until(lambda: (s := self.established()) and len(s["children"]) == 1 and s["children"][0])
        self.assertTrue(child, self.show_ike())
        self.assertEqual(child["pfs"], "ecp256", "a new CHILD_SA with its own KE (the proposal's group)")
        self.register()
        self.traffic()
        # nemo-ha deletes (clear ike): charon hears of it and drops its end.
        r = self.ha.ctl_raw("clear", "ike", "fqdn:r1.example")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_until(lambda: not self.charon.list_sas(), timeout=5),
                        f"charon kept its IKE SA after nemo-ha's DELETE: {self.charon.list_sas()}")
        self.assertEqual(self.show_ike(), [])
        self.assertEqual(self.negotiated_sas(), [])
        # charon deletes (terminate): nemo-ha drops its end, SAs included.
        self.up()
        mid = self.ike_stats()
        self.assertTrue(self.charon.terminate(ike="r1", timeout=5))
        self.assertTrue(wait_until(lambda: not self.show_ike() and not self.negotiated_sas(), timeout=5),
                        f"left after charon's DELETE: {self.show_ike()} {self.negotiated_sas()}")
        self.assertEqual(self.ike_stats()["ike_deleted"] - mid["ike_deleted"], 1)

    def test_8b_reauthentication(self):
        # charon's reauthentication (break-before-make, 5.9's default): a new IKE SA with a new
        # CHILD_SA, the old ones deleted; nemo-ha ends with one of each and the traffic flows on them.
        self.up()
        self.register()
        old = self.established()
        self.charon.rekey(ike="r1", reauth=True)
        new = wait_until(lambda: (s := self.show_ike()) and len(s) == 1 and s[0]["state"] == "established"
                         and s[0]["spi_i"] != old["spi_i"] and len(s[0]["children"]) == 1 and s[0])
        self.assertTrue(new, f"no new IKE SA after reauthentication: {self.show_ike()}")
        self.assertEqual(new["hoa"], HOA)
        self.assertNotEqual(new["children"][0]["spi_in"], old["children"][0]["spi_in"])
        self.assertEqual({s["spi"] for s in self.negotiated_sas()},
                         {int(new["children"][0]["spi_in"], 16), int(new["children"][0]["spi_out"], 16)})
        self.register()
        self.traffic()

    def test_8c_two_routers(self):
        # r2 comes up while r1 is up: its INITIAL_CONTACT concerns its own identity only; each router
        # has its own SAs, binding and traffic.
        self.up()
        self.register()
        r1 = self.established()
        self.up(child="r2", ike="r2")
        r2 = self.established(HOA2)
        self.assertIsNotNone(r2, self.show_ike())
        self.assertEqual(r2["id"], "fqdn:r2.example")
        self.assertEqual(self.established()["spi_r"], r1["spi_r"], "r1's IKE SA survived r2's INITIAL_CONTACT")
        self.register(hoa=HOA2, prefix="2001:db8:cccc::")
        for src in (MNN, MNN2):
            with self.subTest(src=src):
                self.traffic(src=src)
                self.assertEqual(ping(count=3, interval=0.1, src=src), (3, 3))
        sas = {s["spi"]: s for s in self.negotiated_sas()}
        self.assertEqual(len(sas), 4, sas)
        for hoa, sa in ((HOA, self.established()), (HOA2, self.established(HOA2))):
            for key in ("spi_in", "spi_out"):
                self.assertIn(hoa, sas[int(sa["children"][0][key], 16)]["sa"])
            self.assertGreater(sa["children"][0]["packets_in"], 0)

    def test_8d_router_restarts_with_initial_contact(self):
        # The router dies without a word and comes back: its new IKE_AUTH says INITIAL_CONTACT, and
        # nemo-ha drops the old IKE SA and its SAs at once (not after a liveness check).
        self.up()
        self.register()
        old = self.established()
        before = self.ike_stats()
        self.charon.kill()
        self.charon.start()
        self.up()
        self.assertEqual(self.ike_stats()["ike_initial_contact"] - before["ike_initial_contact"], 1)
        sas = self.show_ike()
        self.assertEqual(len(sas), 1, sas)
        self.assertNotEqual(sas[0]["spi_i"], old["spi_i"])
        self.assertEqual({s["spi"] for s in self.negotiated_sas()},
                         {int(sas[0]["children"][0]["spi_in"], 16), int(sas[0]["children"][0]["spi_out"], 16)})
        self.register()
        self.traffic()

    @unittest.skipUnless(shutil.which("nft"), "nft (Debian nftables) not installed")
    def test_8e_behind_a_real_nat(self):
        # nftables in the router's namespace maps 198.51.100.10 to .20 and its UDP ports to 7000 (IKE
        # from 500 and from 4500 alike): nemo-ha sees a NAT of its own, answers and sends ESP there.
        rules = """table ip ki_nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "mr0" ip saddr 198.51.100.10 ip protocol udp snat to 198.51.100.20:7000
    }
}
"""
        mr("ip", "addr", "add", "198.51.100.20/24", "dev", "mr0")
        r = subprocess.run(["ip", "netns", "exec", ns_name("nemo-mr"), "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            self.up()
            sa = self.established()
            self.assertEqual((sa["peer"], sa["peer_port"], sa["nat_peer"]), ("198.51.100.20", 7000, True))
            self.register(nat=("198.51.100.20", 7000))
            self.traffic()
            self.assertEqual(ping(count=3, interval=0.1), (3, 3))
        finally:
            self.clean_slate()
            mr("nft", "delete", "table", "ip", "ki_nat", check=False)
            mr("ip", "addr", "del", "198.51.100.20/24", "dev", "mr0", check=False)
            sh("ip", "netns", "exec", ns_name("nemo-mr"), "conntrack", "-F", check=False)

    @unittest.skipUnless(shutil.which("nft"), "nft (Debian nftables) not installed")
    def test_8f_lost_answers(self):
        # The router's namespace drops nemo-ha's first IKE_SA_INIT answer (from 500) and its first
        # IKE_AUTH answer (the first datagram from 4500): charon sends each request again, nemo-ha
        # answers both from what it sent before, without a second IKE SA or CHILD_SA. (The quota drops
        # while its byte count stays under 400: the answers are about 260 and 320 bytes, a second
        # brings it over.)
        rules = """table ip ki_loss {
    chain input {
        type filter hook input priority filter; policy accept;
        ip saddr 198.51.100.1 udp sport 500 quota until 400 bytes drop
        ip saddr 198.51.100.1 udp sport 4500 quota until 400 bytes drop
    }
}
"""
        r = subprocess.run(["ip", "netns", "exec", ns_name("nemo-mr"), "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            before = self.ike_stats()
            self.up()
            after = self.ike_stats()
            self.assertEqual(after["ike_retransmit_answered"] - before["ike_retransmit_answered"], 2)
            self.assertEqual(after["ike_established"] - before["ike_established"], 1)
            self.assertEqual(after["ike_child_installed"] - before["ike_child_installed"], 1)
            sas = self.show_ike()
            self.assertEqual((len(sas), len(sas[0]["children"])), (1, 1), sas)
            self.assertEqual(len(self.negotiated_sas()), 2)
            self.assertEqual(len(re.findall(r"retransmit \d of request", self.charon.log_text(since_start=True))), 2)
        finally:
            mr("nft", "delete", "table", "ip", "ki_loss", check=False)
        self.register()
        self.traffic()

    def test_9_no_key_bytes_anywhere(self):
        # Last of the class: charon has derived the keys of every CHILD_SA the tests above made.
        self.up()
        self.register()
        keys = self.charon.derived_esp_keys()
        self.assertGreaterEqual(len(keys), 1)
        secrets = []
        for k in keys:
            for name in ("encr_in", "encr_out", "integ_in", "integ_out"):
                v = bytes(k[name])
                if len(v) >= 16:
                    secrets.append(v)
        self.assertTrue(secrets)
        texts = []
        for args in (("show", "ike"), ("show", "sa"), ("show", "stats"), ("show", "bindings")):
            for j in ((), ("--json",)):
                r = self.ha.ctl_raw(*j, *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                texts.append(r.stdout.encode())
        with open(self.ha.log, "rb") as f:
            texts.append(f.read())
        blob = b"\n".join(texts)
        low = blob.lower()
        found = 0
        for v in secrets:
            # The key (the 16 or 32 bytes without GCM's salt too) raw and in hex, any case.
            for part in {v, v[:16]}:
                if part in blob or part.hex().encode() in low:
                    found += 1
        self.assertEqual(found, 0, f"{found} key values in nemo-ha's log or CLI output")
        for psk in (PSK1, PSK2, PSK3):
            self.assertNotIn(psk.encode(), blob, "a pre-shared key in nemo-ha's log or CLI output")
        print(f"\n  {len(secrets)} keys of {len(keys)} CHILD_SAs checked against {len(blob)} bytes", file=sys.stderr)


class IkeLivenessAndCookies(IkeTestCase):
    # Every IKE_SA_INIT must carry a cookie here (threshold 0): charon's retry with it is part of each
    # set-up.
    ha_overrides = ("--ike.dpd_s=2", "--ike.retransmits=2", "--ike.cookie_threshold=0")

    def test_3_cookie_asked_and_returned(self):
        before = self.ike_stats()
        self.up()
        after = self.ike_stats()
        self.assertEqual(after["ike_cookies_sent"] - before["ike_cookies_sent"], 1)
        self.assertEqual(after["ike_cookie_bad"], before["ike_cookie_bad"])
        self.assertIn("COOKIE", self.charon.log_text(since_start=True))
        self.register()
        self.traffic()
        self.charon.terminate(ike="r1", timeout=5)
        self.assertTrue(wait_until(lambda: not self.show_ike(), timeout=5))

    def test_4_dead_router_removed(self):
        self.up()
        self.register()
        self.traffic()
        sa = self.established()
        spis = {int(sa["children"][0]["spi_in"], 16), int(sa["children"][0]["spi_out"], 16)}
        self.assertTrue(spis <= {s["spi"] for s in self.negotiated_sas()})
        before = self.ike_stats()
        # Quiet for a while: the liveness checks of a living router are answered.
        time.sleep(5)
        self.assertIsNotNone(self.established(), "a living router's IKE SA went away")
        self.assertGreater(self.ike_stats()["ike_liveness_sent"], before["ike_liveness_sent"])
        self.assertEqual(self.ike_stats()["ike_dead_peers"], before["ike_dead_peers"])
        t0 = time.monotonic()
        self.charon.kill()
        gone = wait_until(lambda: not self.show_ike() and not (spis & {s["spi"] for s in self.negotiated_sas()}),
                          timeout=20, interval=0.2)
        took = time.monotonic() - t0
        print(f"\n  dead router removed after {took:.1f} s", file=sys.stderr)
        self.assertTrue(gone, f"still there: {self.show_ike()}")
        # At most dpd_s of silence, then the check and its two retransmits (after 1 and 2 s) and 4 s for
        # the last; at least the retransmissions (the check may have left just before the kill).
        self.assertLessEqual(took, 2 + 1 + 2 + 4 + 3)
        self.assertGreaterEqual(took, 5)
        self.assertEqual(self.ike_stats()["ike_dead_peers"] - before["ike_dead_peers"], 1)



class IkeChildLifetime(IkeTestCase):
    # A CHILD_SA the router does not rekey (rekey_time 0 at charon): the home agent rekeys it itself at
    # 90 % of ike.child_lifetime_s (CREATE_CHILD_SA as the exchange's initiator), then deletes the old one.
    ha_overrides = ("--ike.child_lifetime_s=4",)

    @classmethod
    def conns(cls):
        return r1_conn(rekey_time="0")

    def test_the_home_agent_rekeys_before_the_lifetime(self):
        self.up()
        self.register()
        self.traffic()
        first = self.established()["children"][0]
        before = self.ike_stats()
        t0 = time.monotonic()
        new = wait_until(lambda: (s := self.established()) and len(s["children"]) == 1
                         and s["children"][0]["spi_in"] != first["spi_in"] and s["children"][0], timeout=8)
        took = time.monotonic() - t0
        self.assertTrue(new, f"no rekey of ours before the lifetime: {self.show_ike()}")
        print(f"\n  rekeyed by the home agent {took:.1f} s after the check began (lifetime 4 s)", file=sys.stderr)
        self.assertLessEqual(took, 4 + 1)  # 90 % of the lifetime from the child's start, timers every 0.2 s
        after = self.ike_stats()
        self.assertGreaterEqual(after["ike_rekeys_started"] - before["ike_rekeys_started"], 1)
        self.assertGreaterEqual(after["ike_child_rekeyed"] - before["ike_child_rekeyed"], 1)
        self.assertEqual(after["ike_child_expired"], before["ike_child_expired"], "deleted instead of rekeyed")
        self.assertEqual(after["ike_rekeys_refused"], before["ike_rekeys_refused"])
        # charon took our rekey: its installed CHILD_SA is the new pair, the old one gone from both sides.
        installed = wait_until(lambda: [c for c in self.charon.list_sas("r1")[0]["children"] if c["state"] == "INSTALLED"]
                               if self.charon.list_sas("r1") else None)
        pairs = {(c["spi-in"], c["spi-out"]) for c in installed}
        self.assertIn((int(new["spi_out"], 16), int(new["spi_in"], 16)), pairs, installed)
        self.assertNotIn((int(first["spi_out"], 16), int(first["spi_in"], 16)), pairs, installed)
        self.assertTrue(wait_until(lambda: int(first["spi_in"], 16) not in {s["spi"] for s in self.negotiated_sas()}, timeout=3),
                        "the old inbound SA outlived the Delete")
        # Traffic goes on over the new keys.
        self.traffic()


class IkeCertificates(IkeTestCase):
    """Certificate authentication: the router's RSA certificate from the operator's CA, the home agent's
    ECDSA one from the same CA (charon checks it); a router certificate from another CA is refused."""

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="ki-pki-", dir=WORK)
        cls.pki = make_pki(os.path.join(cls.pki_dir, "ok"), "nemo test CA",
                           leaves=(("r1.example", "rsa"), ("ha.example", "ecdsa")))
        cls.other = make_pki(os.path.join(cls.pki_dir, "other"), "another CA", leaves=(("r1.example", "ecdsa"),))
        os.chmod(cls.pki["ha.example"]["key"], 0o600)
        cls.ha_overrides = (f"--ike.ca_file={cls.pki['ca']['cert']}", f"--ike.cert_file={cls.pki['ha.example']['cert']}",
                            f"--ike.key_file={cls.pki['ha.example']['key']}", "--ike.id=fqdn:ha.example")
        super().setUpClass()

    @classmethod
    def conns(cls):
        return swanctl_conn("r1", "%any", HA4, "r1.example", "ha.example", auth="pubkey", local_certs=["r1.example.pem"],
                            remote_cacerts=["ca.pem"], proposals="aes128gcm16-prfsha256-ecp256",
                            esp_proposals="aes128gcm16-noesn", children={"net": dict(CHILD_TS)})

    @classmethod
    def charon_certs(cls):
        return pki_certs(cls.pki, "r1.example")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def restart_charon(self, pki):
        if self.charon.running():
            self.charon.stop()
        self.charon.write_config(self.conns(), "", certs=pki_certs(pki, "r1.example"))
        self.charon.start()

    def test_1_a_certificate_of_the_operators_ca(self):
        self.restart_charon(self.pki)
        before = self.ike_stats()
        self.up()
        sa = self.established()
        self.assertIsNotNone(sa, self.show_ike())
        self.assertEqual(sa["id"], "fqdn:r1.example")
        self.assertEqual(len(sa["children"]), 1)
        self.assertEqual(self.ike_stats()["ike_established"] - before["ike_established"], 1)
        # charon authenticated us by our certificate (its log says so) and the SA carries traffic.
        self.assertIn("ha.example", self.charon.log_text(since_start=True))
        self.register()
        self.traffic()

    def test_2_another_cas_certificate_refused(self):
        self.clean_slate()
        self.restart_charon(self.other)
        before = self.ike_stats()
        self.assertFalse(self.charon.initiate("net", ike="r1", timeout=5), "a certificate of another CA was accepted")
        after = self.ike_stats()
        self.assertEqual(after["ike_cert_untrusted"] - before["ike_cert_untrusted"], 1, after)
        self.assertEqual([s for s in self.show_ike() if s["state"] == "established"], [])
        self.assertEqual(self.negotiated_sas(), [])


if __name__ == "__main__":
    unittest.main()
