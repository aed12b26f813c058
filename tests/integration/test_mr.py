#!/usr/bin/python3
"""nemo-mr against nemo-ha, end to end: the real home agent in its namespace (built-in configuration,
the router provisioned with --provisioning.mr), the real mobile router in the nemo-mr namespace on mr0 with
a TUN device for its mobile network prefix and a host address on it. Checks registration over I, R and U
(nemo-hactl lists the binding with its method), a ping from the MNP host address through the TUN to the
correspondent (2001:db8:1::cc in nemo-cn) and back, de-registration on `nemo-mr stop`, the sequence
number carried over a restart by the state file, the draft's 144 fallback (7.4), S and S+U
with hand-keyed SAs, and --routers N.

    /usr/bin/python3 tests/integration/test_mr.py   (as root) [-v] [TestClass.test_name]
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

# Namespaces of this test's own (scripts/topology.sh and nemo_harness read it).
os.environ.setdefault("NEMO_NS_PREFIX", "nmr-")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo_harness import CN, HA4, HA6, HomeAgent, Topology, build_dir, ns_name  # noqa: E402
from procs import stop_process  # noqa: E402

MR_HOA = "2001:db8:1::150"
MR_MNP = "2001:db8:dddd::/48"     # the CN routes it to the HA (setUpModule)
MNN = "2001:db8:dddd::1"          # the mobile network's host address, on the TUN
TUN = "mnp0"
PROVISION = f"--provisioning.mr={MR_HOA} router prefixes={MR_MNP}"

TOPOLOGY = None

_KEY_DIR = tempfile.mkdtemp(prefix="nemo-mr-keys-")
atexit.register(shutil.rmtree, _KEY_DIR, True)


def key_file(key):
    """'@PATH' of a file (mode 0600) with the key's hex: neither program takes a key on its command line."""
    path = os.path.join(_KEY_DIR, f"key{len(os.listdir(_KEY_DIR))}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return "@" + path


def mr_binary():
    return os.path.join(build_dir(), "control", "mr", "nemo-mr")


def in_mr(*args, **kw):
    return subprocess.run(["ip", "netns", "exec", ns_name("nemo-mr"), *args], capture_output=True, text=True, **kw)


def setUpModule():
    global TOPOLOGY
    TOPOLOGY = Topology().__enter__()
    try:
        # The mobile network: a TUN device nemo-mr attaches to, IPv6 on it (the access side has none), the
        # host address, and everything not local routed into it.
        for cmd in (["ip", "tuntap", "add", "dev", TUN, "mode", "tun"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{TUN}.disable_ipv6=0"],
                    ["ip", "link", "set", TUN, "up"],
                    ["ip", "-6", "addr", "add", MNN + "/64", "dev", TUN, "nodad"],
                    ["ip", "-6", "route", "add", "default", "dev", TUN]):
            r = in_mr(*cmd)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
        subprocess.run(["ip", "-n", ns_name("nemo-cn"), "-6", "route", "add", MR_MNP, "via", HA6, "dev", "cn0"],
                       check=True)
    except Exception:
        TOPOLOGY.__exit__(None, None, None)
        raise


def tearDownModule():
    TOPOLOGY.__exit__(None, None, None)


def wait_for(what, check, timeout=8.0, interval=0.1):
    """Polls `check` until it returns something true; fails with `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class MobileRouter:
    """nemo-mr in the nemo-mr namespace, its control socket and state file in a directory of its own."""

    def __init__(self, *args, state_file=None, hoa=MR_HOA, prefix=MR_MNP, tun=True, ns="nemo-mr", iface="mr0"):
        self.dir = tempfile.mkdtemp(prefix="nemo-mr-test-")
        self.socket = os.path.join(self.dir, "mr.sock")
        self.state_file = state_file or os.path.join(self.dir, "seq")
        self.log = os.path.join(self.dir, "nemo-mr.log")
        self.ns = ns
        self.args = ["--interface", iface, "--home-address", hoa, "--prefix", prefix, "--ha6", HA6, "--ha4", HA4,
                     *(["--tun", TUN] if tun else []), "--socket", self.socket, "--state-file", self.state_file, *args]
        self.proc = None

    def __enter__(self):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", ns_name(self.ns), mr_binary(), *self.args],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_for("nemo-mr's control socket", lambda: self.proc.poll() is not None or os.path.exists(self.socket))
        if self.proc.poll() is not None:
            raise RuntimeError(f"nemo-mr exited with {self.proc.returncode}:\n{self.output()}")
        return self

    def __exit__(self, *exc):
        code = stop_process(self.proc)
        if exc[0] is None and code == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"nemo-mr's log kept in {self.log}", file=sys.stderr)

    def output(self):
        with open(self.log) as f:
            return f.read()

    def status(self, index=0):
        return self.status_all()[index]

    def status_all(self):
        r = subprocess.run(["ip", "netns", "exec", ns_name(self.ns), mr_binary(), "status", "--socket", self.socket,
                            "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"nemo-mr status: {r.returncode} {r.stderr}")
        return json.loads(r.stdout)["routers"]

    def stop(self):
        r = subprocess.run(["ip", "netns", "exec", ns_name(self.ns), mr_binary(), "stop", "--socket", self.socket],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"nemo-mr stop: {r.returncode} {r.stderr}")
        self.proc.wait(timeout=15)
        return self.proc.returncode


class MrTestCase(unittest.TestCase):
    overrides = ()

    @classmethod
    def setUpClass(cls):
        cls.ha = HomeAgent(PROVISION, *cls.overrides).__enter__()

    @classmethod
    def tearDownClass(cls):
        code = cls.ha.stop()
        assert code == 0, f"nemo-ha did not stop cleanly: {code}"

    def binding(self):
        return self.ha.bindings().get(MR_HOA)

    def wait_binding(self, method):
        return wait_for(f"a {method} binding for {MR_HOA} in nemo-hactl show bindings",
                        lambda: (b := self.binding()) and b["method"] == method and b)

    def ping_cn(self):
        """A ping from the mobile network's host address to the CN: out through the TUN, nemo-mr, the
        tunnel and the HA, and back. The first may be lost while the HA resolves the CN."""
        return in_mr("ping", "-c", "3", "-i", "0.3", "-W", "2", "-I", MNN, CN, timeout=20)


class RegistrationOverEachMethod(MrTestCase):
    def test_register_ping_and_deregister_over_ipip_gre_udp(self):
        state = os.path.join(tempfile.mkdtemp(prefix="nemo-mr-seq-"), "seq")
        last_seq = None
        for method in ("ipip", "gre", "udp"):
            with self.subTest(method=method), MobileRouter("--methods", method, state_file=state) as mr:
                b = self.wait_binding(method)
                self.assertEqual(b["kind"], "mobile-router")
                if last_seq is not None:
                    # The state file carries the sequence number over the restart (RFC 6275 9.5.1).
                    self.assertGreater(b["sequence"], last_seq, "sequence number kept across restarts")
                last_seq = b["sequence"]
                st = wait_for("nemo-mr status: registered", lambda: (s := mr.status())["phase"] == "registered" and s)
                self.assertEqual(st["method"], method)
                self.assertTrue(st["tunnel_up"])
                self.assertEqual(st["care_of_address"], "198.51.100.10")
                self.assertEqual(st["home_agent_ipv4"], HA4)
                self.assertEqual(st["last_status"], 0)
                self.assertGreater(st["lifetime_left_s"], 500)
                # RFC 6275 11.4.2: a Mobile Prefix Solicitation through the tunnel once registered; the
                # advertisement's home prefix and its lifetimes are in the status.
                mpa = wait_for("the MPA in nemo-mr status", lambda: mr.status()["mobile_prefix_advertisement"])
                self.assertEqual(mpa[0]["prefix"], "2001:db8:1::/64")
                self.assertGreater(mpa[0]["valid_left_s"], 0)

                r = self.ping_cn()
                self.assertEqual(r.returncode, 0, f"no ping reply over {method}:\n{r.stdout}{r.stderr}\n{mr.output()}")
                st = mr.status()
                self.assertGreaterEqual(st["counters"]["tx_packets"], 2, "echo requests read from the TUN, tunneled")
                self.assertGreaterEqual(st["counters"]["rx_packets"], 1, "echo replies decapsulated into the TUN")

                self.assertEqual(mr.stop(), 0, mr.output())
                self.assertIn("deregistered", mr.output())
                wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)
        shutil.rmtree(os.path.dirname(state), ignore_errors=True)

    def test_a_lost_state_file_is_answered_with_135_and_the_has_number(self):
        # SIGKILL leaves the binding at the HA (no de-registration); a router started without its state
        # file begins below the HA's last accepted number, gets 135 with it (RFC 6275 11.7.1), goes on.
        with MobileRouter("--methods", "gre") as mr:
            self.wait_binding("gre")
            mr.proc.kill()
            mr.proc.wait()
        left = self.binding()
        self.assertIsNotNone(left, "SIGKILL: no de-registration")
        first = left["sequence"]
        with MobileRouter("--methods", "udp", "--lifetime", "400") as mr:
            b = self.wait_binding("udp")
            self.assertGreater(b["sequence"], first)
            self.assertIn(f"sequence-out-of-window: the HA's last accepted sequence number is {first}", mr.output())
            self.assertEqual(b["sequence"], first + 1)
            self.assertEqual(mr.stop(), 0)
            wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)

    def test_status_text_and_sigterm(self):
        with MobileRouter("--methods", "gre") as mr:
            self.wait_binding("gre")
            r = in_mr(mr_binary(), "status", "--socket", mr.socket)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"home address {MR_HOA}", r.stdout)
            self.assertIn("method gre, registered, tunnel up", r.stdout)
            self.assertIn("last status: accepted (0)", r.stdout)
            # SIGTERM is a clean stop too: de-registration first.
            self.assertEqual(stop_process(mr.proc), 0, mr.output())
            self.assertIn("deregistered", mr.output())
            wait_for("the binding gone after SIGTERM", lambda: self.binding() is None, timeout=5)


class CareOfChange(MrTestCase):
    def tearDown(self):
        # Back to the topology's order: .10 primary, .20 secondary.
        for cmd in (["ip", "addr", "del", "198.51.100.20/24", "dev", "mr0"],
                    ["ip", "addr", "del", "198.51.100.10/24", "dev", "mr0"],
                    ["ip", "addr", "add", "198.51.100.10/24", "dev", "mr0"],
                    ["ip", "addr", "add", "198.51.100.20/24", "dev", "mr0"]):
            in_mr(*cmd)

    def test_a_new_primary_address_is_registered_at_once(self):
        # The care-of address is the interface's primary IPv4, read again every second (RFC 6275 11.7.1:
        # a new CoA is registered at once). Removing .10 promotes .20.
        self.assertEqual(in_mr("sysctl", "-qw", "net.ipv4.conf.mr0.promote_secondaries=1").returncode, 0)
        with MobileRouter("--methods", "udp") as mr:
            self.assertEqual(self.wait_binding("udp")["care_of"], "198.51.100.10")
            self.assertEqual(in_mr("ip", "addr", "del", "198.51.100.10/24", "dev", "mr0").returncode, 0)
            wait_for("the binding moved to 198.51.100.20",
                     lambda: (b := self.binding()) and b["care_of"] == "198.51.100.20", timeout=5)
            st = wait_for("nemo-mr status: registered from .20",
                          lambda: (s := mr.status())["phase"] == "registered" and s["care_of_address"] == "198.51.100.20" and s)
            self.assertIn("care-of address 198.51.100.10 -> 198.51.100.20", mr.output())
            self.assertEqual(self.ping_cn().returncode, 0, "traffic from the new care-of address")
            self.assertEqual(mr.stop(), 0)


class TunnelMethodFallback(MrTestCase):
    # The HA does not offer U: the router's first choice is answered with 144 and the methods it offers.
    overrides = ("--ha.methods=ipv6,gre,ipip",)

    def test_144_moves_to_the_next_method_offered(self):
        before = self.ha.stats()["nemoHaBUAcksTunnelMethodNotSupported"]
        with MobileRouter("--methods", "udp,gre,ipip") as mr:
            self.wait_binding("gre")
            st = wait_for("nemo-mr status: registered", lambda: (s := mr.status())["phase"] == "registered" and s)
            self.assertEqual(st["method"], "gre")
            self.assertIn("method-refused: udp refused; the HA offers ipip,gre; trying gre", mr.output())
            self.assertEqual(self.ha.stats()["nemoHaBUAcksTunnelMethodNotSupported"], before + 1)
            self.assertEqual(self.ping_cn().returncode, 0, "traffic over the fallback method")
            self.assertEqual(mr.stop(), 0)
            wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)

    def test_no_method_in_common_stops_and_reports(self):
        with MobileRouter("--methods", "udp") as mr:
            st = wait_for("nemo-mr status: no-method", lambda: (s := mr.status())["phase"] == "no-method" and s)
            self.assertFalse(st["tunnel_up"])
            self.assertEqual(st["last_status"], 144)
            self.assertIn("tunnel-method-not-supported (144)", st["last_status_name"])
            self.assertIn("no-common-method", mr.output())
            self.assertIsNone(self.binding())
            sent = st["counters"]["bu_sent"]
            time.sleep(1.5)  # not an assertion on timing: nothing more may be sent, however long we wait
            self.assertEqual(mr.status()["counters"]["bu_sent"], sent, "no BU after giving up")
            self.assertEqual(mr.stop(), 0)
            self.assertIn("nothing to de-register", mr.output())


class HomeAgentLists(MrTestCase):
    def test_an_unanswering_home_agent_is_legacy_and_the_next_ipv4_one_is_tried(self):
        # Draft 4.3: no BA after legacy_after BUs with the IPv4 CoA option: stop sending them to that HA;
        # the next IPv4 home agent of the list is tried. 198.51.100.99 answers nothing (not even ARP).
        mr = MobileRouter("--methods", "gre", "--legacy-after", "2")
        mr.args[mr.args.index("--ha4") + 1] = "198.51.100.99"
        mr.args += ["--ha4", HA4]
        with mr:
            self.wait_binding("gre")
            out = mr.output()
            self.assertIn("legacy-ha: no BA after 2 BUs with the IPv4 CoA option", out)
            self.assertIn(f"trying the next home agent, {HA4}", out)
            self.assertEqual(mr.status()["home_agent_ipv4"], HA4)
            self.assertEqual(mr.stop(), 0)

    def test_dhaad_with_the_i_flag_finds_both_addresses(self):
        # Draft 6: no --ha6; the DHAAD Request goes from the home address to the home agents' anycast
        # address through an IPv6-in-IPv4 tunnel to the configured IPv4 HA; the reply's IPv6 and IPv4
        # lists replace the configured ones.
        mr = MobileRouter("--methods", "ipip", "--dhaad")
        i = mr.args.index("--ha6")
        del mr.args[i:i + 2]
        with mr:
            self.wait_binding("ipip")
            self.assertIn("DHAAD reply: 1 IPv6, 1 IPv4 home agents", mr.output())
            st = mr.status()
            self.assertEqual((st["home_agent_ipv6"], st["home_agent_ipv4"]), (HA6, HA4))
            self.assertEqual(st["counters"]["dhaad_replies"], 1)
            self.assertEqual(mr.stop(), 0)


NAT_RULES = """
table ip nemo_mr_nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "mr0" ip saddr 198.51.100.10 ip protocol udp snat to 198.51.100.20:7000
        oifname "mr0" ip saddr 198.51.100.10 snat to 198.51.100.20
    }
}
"""


@unittest.skipUnless(shutil.which("nft"), "nft (Debian nftables) not installed")
class BehindANat(MrTestCase):
    # A real NAT in the router's namespace (nftables SNAT of 198.51.100.10 to .20, UDP port to 7000): the HA
    # sees an outer source unlike the IPv4 CoA option's, refuses GRE with 144 and U (NOTES.md rule 7), and
    # the router moves to UDP, whose binding uses the observed address and port, refreshed at the keepalive.
    def setUp(self):
        r = subprocess.run(["ip", "netns", "exec", ns_name("nemo-mr"), "nft", "-f", "-"], input=NAT_RULES,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        in_mr("nft", "delete", "table", "ip", "nemo_mr_nat")

    def test_gre_refused_behind_the_nat_then_udp_with_keepalives(self):
        with MobileRouter("--methods", "gre,udp", "--nat-keepalive", "1") as mr:
            b = self.wait_binding("udp")
            self.assertTrue(b["behind_nat"])
            self.assertEqual((b["peer"], b["peer_port"]), ("198.51.100.20", 7000))
            self.assertEqual(b["care_of"], "198.51.100.10")
            self.assertIn("gre refused; the HA offers udp; trying udp (UDP methods only: behind a NAT)", mr.output())
            st = wait_for("nemo-mr status: registered", lambda: (s := mr.status())["phase"] == "registered" and s)
            self.assertTrue(st["behind_nat"])
            sent = st["counters"]["bu_sent"]
            wait_for("keepalive refreshes every second behind the NAT",
                     lambda: mr.status()["counters"]["bu_sent"] >= sent + 2, timeout=5)
            self.assertEqual(self.ping_cn().returncode, 0, "traffic through the NAT")
            self.assertEqual(mr.stop(), 0)
            wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)


# Hand-keyed SAs in nemo-ha's notation, the same lines on both sides ("in": router -> HA).
SA_LINES = (
    f"in 0x3001 {MR_HOA} aes-gcm-128 enc={key_file(bytes(range(1, 17)) + bytes.fromhex('cafebabe'))}",
    f"out 0x4001 {MR_HOA} aes-cbc-128-hmac-sha256 enc={key_file(bytes(range(0x21, 0x31)))} "
    f"auth={key_file(bytes(range(0x40, 0x60)))}",
)


class EspMethods(MrTestCase):
    # S and S+U (draft 5.1, 9): signaling only through the SAs of the home address (unprotected refused).
    overrides = ("--ha.methods=ipv6,ipip,gre,udp,esp,esp-udp", "--ha.allow_unprotected_signaling=no",
                 "--ipsec.allow_manual_gcm=yes", *(f"--ipsec.sa={line}" for line in SA_LINES))

    def test_register_ping_and_deregister_over_s_and_s_plus_u(self):
        state = os.path.join(tempfile.mkdtemp(prefix="nemo-mr-seq-"), "seq")
        for method in ("esp", "esp-udp"):
            with self.subTest(method=method), MobileRouter("--methods", method, *(f"--sa={l}" for l in SA_LINES),
                                                           state_file=state) as mr:
                b = self.wait_binding(method)
                self.assertEqual(b["care_of"], "198.51.100.10")
                st = wait_for("nemo-mr status: registered", lambda: (s := mr.status())["phase"] == "registered" and s)
                self.assertTrue(st["tunnel_up"])
                r = self.ping_cn()
                self.assertEqual(r.returncode, 0, f"no ping reply over {method}:\n{r.stdout}{r.stderr}")
                self.assertEqual(mr.stop(), 0, mr.output())
                self.assertIn("deregistered", mr.output())
                wait_for("the binding gone after nemo-mr stop", lambda: self.binding() is None, timeout=5)
        # The second run went on from the first's ESP sequence numbers (the HA's replay window would have
        # dropped a restart from 1): the state file holds a reservation past them.
        with open(state) as f:
            words = f.read().split()
        self.assertEqual(words[0], MR_HOA)
        self.assertGreater(int(words[2]), 2 * (1 << 20), "the ESP reservation moved on at the second start")
        shutil.rmtree(os.path.dirname(state), ignore_errors=True)

    def test_unprotected_gre_gets_no_answer(self):
        # Without --sa the same HA drops the BUs (draft 5.2): a router with only GRE concludes legacy.
        with MobileRouter("--methods", "gre", "--legacy-after", "1") as mr:
            wait_for("nemo-mr status: legacy-ha", lambda: mr.status()["phase"] == "legacy-ha")
            self.assertIsNone(self.binding())
            self.assertEqual(mr.stop(), 0)


class Ipv6CareOf(MrTestCase):
    # Plain NEMO (RFC 3963) from an IPv6 care-of address: the access network here is IPv4 only, so this
    # router sits on the home side's link (nemo-cn's cn0) with an address off the home prefix, as
    # test_home_agent's IPv6 CoA test does; the BU goes from the CoA with a Home Address option, the BA
    # comes back with a type 2 routing header. Its traffic is checked from the IPv4 router's mobile
    # network: mobile network to mobile network through the HA (RFC 3963 6.5), UDP one side and
    # IPv6-in-IPv6 the other.
    V6COA = "2001:db8:1:ffff::50"
    V6HOA = "2001:db8:1::155"
    V6MNP = "2001:db8:eee5::/48"
    V6MNN = "2001:db8:eee5::1"
    TUN6 = "mnp6"
    overrides = (f"--provisioning.mr={V6HOA} router prefixes={V6MNP}",)

    @classmethod
    def cn(cls, *args, check=True):
        return subprocess.run(["ip", "-n", ns_name("nemo-cn"), *args], check=check, capture_output=True, text=True)

    @classmethod
    def setUpClass(cls):
        cls.cn("-6", "addr", "add", cls.V6COA + "/64", "dev", "cn0", "nodad")
        cls.cn("tuntap", "add", "dev", cls.TUN6, "mode", "tun")
        cls.cn("link", "set", cls.TUN6, "up")
        cls.cn("-6", "addr", "add", cls.V6MNN + "/64", "dev", cls.TUN6, "nodad")
        # The IPv4 router's mobile network is reached through this router's tunnel, not the CN's route.
        cls.cn("-6", "route", "replace", MR_MNP, "dev", cls.TUN6)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.cn("-6", "route", "replace", MR_MNP, "via", HA6, "dev", "cn0", check=False)
        cls.cn("link", "del", cls.TUN6, check=False)
        cls.cn("-6", "addr", "del", cls.V6COA + "/64", "dev", "cn0", check=False)

    def test_registers_carries_traffic_and_deregisters_from_an_ipv6_care_of(self):
        v6 = MobileRouter("--coa-family", "ipv6", "--coa6", self.V6COA, "--tun", self.TUN6, hoa=self.V6HOA,
                          prefix=self.V6MNP, tun=False, ns="nemo-cn", iface="cn0")
        with v6, MobileRouter("--methods", "udp") as v4:
            b = wait_for("an ipv6 binding", lambda: (x := self.ha.bindings().get(self.V6HOA)) and x["method"] == "ipv6" and x)
            self.assertEqual(b["care_of"], self.V6COA)
            st = wait_for("nemo-mr status: registered", lambda: (s := v6.status())["phase"] == "registered" and s)
            self.assertEqual((st["method"], st["care_of_address"]), ("ipv6", self.V6COA))
            self.wait_binding("udp")
            r = in_mr("ping", "-c", "3", "-i", "0.3", "-W", "2", "-I", MNN, self.V6MNN, timeout=20)
            self.assertEqual(r.returncode, 0, f"no reply from the IPv6 router's network:\n{r.stdout}{r.stderr}")
            c = v6.status()["counters"]
            self.assertGreaterEqual(c["rx_packets"], 1, "echo requests out of IPv6-in-IPv6 into its TUN")
            self.assertGreaterEqual(c["tx_packets"], 1, "echo replies from its TUN into IPv6-in-IPv6")
            self.assertEqual(v6.stop(), 0)
            self.assertIn("deregistered", v6.output())
            wait_for("the binding gone after nemo-mr stop", lambda: self.V6HOA not in self.ha.bindings(), timeout=5)
            self.assertEqual(v4.stop(), 0)


MANY = [(f"2001:db8:1::{0x160 + i:x}", f"2001:db8:eee{i}::/48") for i in range(3)]


class ManyRoutersInOneProcess(MrTestCase):
    # --routers N: home address, prefix and UDP port derived from the base and the index.
    overrides = tuple(f"--provisioning.mr={hoa} router prefixes={pfx}" for hoa, pfx in MANY)

    def test_three_routers_register_with_their_own_address_prefix_and_port(self):
        with MobileRouter("--methods", "udp", "--routers", "3", "--udp-port", "5000", hoa=MANY[0][0],
                          prefix=MANY[0][1], tun=False) as mr:
            got = wait_for("three udp bindings", lambda: (b := self.ha.bindings()) and
                           all(h in b and b[h]["method"] == "udp" for h, _ in MANY) and b)
            for i, (hoa, pfx) in enumerate(MANY):
                self.assertEqual(got[hoa]["prefixes"], [pfx])
                self.assertEqual(got[hoa]["care_of_port"], 5000 + i)
            st = mr.status_all()
            self.assertEqual([r["home_address"] for r in st], [h for h, _ in MANY])
            self.assertTrue(all(r["phase"] == "registered" for r in st), st)
            self.assertEqual(mr.stop(), 0)
            wait_for("the three bindings gone", lambda: not any(h in self.ha.bindings() for h, _ in MANY), timeout=5)


if __name__ == "__main__":
    unittest.main()
