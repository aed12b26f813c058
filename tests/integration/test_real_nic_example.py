"""The two-port configuration of bench/REAL_NIC.md: `nemo-ha --check` calls it valid as written, on a
machine without its NICs or hugepages. The check wants free hugepages (the example has no --no-huge):
it runs in a mount namespace of its own where /sys/kernel/mm/hugepages is a directory the test writes,
saying 4 free 1 GiB pages; nothing of the machine's is changed. And the check is live: the same file
with a port the -a list leaves out, or with -m beside --socket-mem, is refused.

Runs under /usr/bin/python3, as root (unshare, mount).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("NEMO_BUILD_DIR", os.path.join(ROOT, "build"))
NEMO_HA = os.path.join(BUILD, "dataplane", "daemon", "nemo-ha")


def guide_ini():
    with open(os.path.join(ROOT, "bench", "REAL_NIC.md")) as f:
        blocks = re.findall(r"^```ini\n(.*?)^```", f.read(), re.S | re.M)
    if len(blocks) != 1:
        raise AssertionError(f"bench/REAL_NIC.md has {len(blocks)} ```ini blocks; this test reads exactly one")
    return blocks[0]


class RealNicExample(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nemo-realnic-")
        self.config = os.path.join(self.dir, "nemo-ha.conf")
        with open(self.config, "w") as f:
            f.write(guide_ini())
        # The guide's provisioning file is the operator's; one router stands for it.
        self.routers = os.path.join(self.dir, "routers.txt")
        with open(self.routers, "w") as f:
            f.write("2001:db8:1::100 router prefixes=2001:db8:aaaa::/48\n")
        pages = os.path.join(self.dir, "hugepages", "hugepages-1048576kB")
        os.makedirs(pages)
        with open(os.path.join(pages, "free_hugepages"), "w") as f:
            f.write("4\n")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, *extra):
        script = ('mount --bind "$1" /sys/kernel/mm/hugepages && shift && exec "$@"')
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                            os.path.join(self.dir, "hugepages"), NEMO_HA, "--config", self.config,
                            f"--provisioning.file={self.routers}", "--check", *extra],
                           capture_output=True, text=True, timeout=60)
        return r

    def test_check_calls_it_valid(self):
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration is valid", r.stdout)

    def test_a_port_the_a_list_leaves_out_is_refused(self):
        r = self.check("--access.port=0000:3b:00.2")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("leaves out", r.stderr)

    def test_m_beside_socket_mem_is_refused(self):
        ini = guide_ini()
        m = re.search(r"^args = (.*)$", ini, re.M)
        self.assertIsNotNone(m, "the example has eal.args")
        self.assertIn("--socket-mem", m.group(1))
        r = self.check(f"--eal.args=-m 4096 {m.group(1)}")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--socket-mem", r.stderr)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("needs root (unshare, mount)")
        sys.exit(77)
    unittest.main()
