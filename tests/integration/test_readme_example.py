"""The configuration example of README.md, as a new user copies it: `nemo-ha --check` calls it valid,
and the daemon starts on it (no hugepages, no NIC: two net_null ports), answers `nemo-hactl`, warns once
that with no SA every Binding Update is dropped, and stops cleanly on SIGTERM.

Needs no network namespace. Runs under /usr/bin/python3, as root (EAL).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from procs import stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("NEMO_BUILD_DIR", os.path.join(ROOT, "build"))
NEMO_HA = os.path.join(BUILD, "dataplane", "daemon", "nemo-ha")
NEMO_HACTL = os.path.join(BUILD, "control", "nemo-hactl")


def read(path):
    with open(path) as f:
        return f.read()


def readme_ini():
    """The README's one ```ini block."""
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = re.findall(r"^```ini\n(.*?)^```", f.read(), re.S | re.M)
    if len(blocks) != 1:
        raise AssertionError(f"README.md has {len(blocks)} ```ini blocks; this test reads exactly one")
    return blocks[0]


class ReadmeExample(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nemo-readme-")
        self.config = os.path.join(self.dir, "nemo-ha.ini")
        # As the README tells: readable by its owner only (it may hold keys).
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(readme_ini())
        # The departures from the text: a CLI socket and a state directory of the test's own, so that a
        # daemon already running on this machine is not disturbed.
        self.socket = os.path.join(self.dir, "cli.sock")
        self.state = os.path.join(self.dir, "state")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_check_calls_it_valid(self):
        r = subprocess.run([NEMO_HA, "--config", self.config, "--check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration is valid", r.stdout)

    def test_it_starts_as_written_warns_once_and_stops(self):
        log = os.path.join(self.dir, "nemo-ha.log")
        with open(log, "w") as out, open(log + ".err", "w") as err:
            proc = subprocess.Popen([NEMO_HA, "--config", self.config, f"--cli.socket={self.socket}", f"--state.dir={self.state}"],
                                    stdout=out, stderr=err)
        try:
            up = False
            deadline = time.time() + 30
            while time.time() < deadline and proc.poll() is None:
                if os.path.exists(self.socket):
                    r = subprocess.run([NEMO_HACTL, "-s", self.socket, "show", "version"], capture_output=True, text=True)
                    if r.returncode == 0:
                        up = True
                        break
                time.sleep(0.1)
            self.assertTrue(up, f"nemo-ha did not come up (exit {proc.poll()}):\n" + read(log) + read(log + ".err"))
            time.sleep(1)  # running for a second, workers polling
            self.assertIsNone(proc.poll(), read(log + ".err"))
            r = subprocess.run([NEMO_HACTL, "-s", self.socket, "show", "config"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("home_prefix = 2001:db8:1::/64", r.stdout)
        finally:
            stop_process(proc, timeout=20)
        self.assertEqual(proc.returncode, 0, read(log + ".err"))
        stdout, stderr = read(log), read(log + ".err")
        self.assertIn("access net_null0, home net_null1", stdout + stderr)  # the log is on stderr
        # The example has no SA and does not allow unprotected signaling: said at start, once.
        self.assertEqual(stderr.count("EVERY Binding Update will be dropped"), 1, stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
