#!/usr/bin/python3
"""scripts/bench_report.py on a committed fixture (tests/fixtures/bench: a real run's JSON, trimmed):
the report has one row per case of the fixture, each ratio is the one the fixture's figures give
(recomputed here from the JSON, and a few by hand), and the plots it links are real PNG / SVG images."""
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

SRC = os.environ.get("NEMO_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SRC, "scripts", "bench_report.py")
FIXTURE = os.path.join(SRC, "tests", "fixtures", "bench")


def runs(stem):
    with open(os.path.join(FIXTURE, f"{stem}.json")) as f:
        return json.load(f)["benchmarks"]


def tables(md):
    """Every markdown table as a list of rows (lists of cells), the header row first."""
    out, cur = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r"-+", c) for c in cells):
                continue
            if cur is None:
                cur = []
                out.append(cur)
            cur.append(cells)
        else:
            cur = None
    return out


def table(md, first_header):
    found = [t for t in tables(md) if t[0][0] == first_header]
    assert len(found) == 1, f"one table headed '{first_header}', found {len(found)}"
    return found[0]


def median_of(cell):
    """'**0.596 [0.512-0.611]**' -> 0.596"""
    m = re.match(r"\**([0-9][0-9 .]*)", cell)
    assert m, f"no number in {cell!r}"
    return float(m.group(1).replace(" ", ""))


class BenchReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = {}
        for fmt in ("svg", "png"):
            d = os.path.join(cls.tmp.name, fmt)
            os.makedirs(d)
            r = subprocess.run([sys.executable, SCRIPT, "--in", FIXTURE, "--out", os.path.join(d, "report.md"),
                                "--plots", os.path.join(d, "plots"), "--format", fmt, "--note", "fixture run"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            with open(os.path.join(d, "report.md")) as f:
                cls.out[fmt] = (d, f.read())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def md(self):
        return self.out["svg"][1]

    def test_pipeline_rows_and_ratios(self):
        cases = {}
        for b in runs("pipeline"):
            f = dict(p.split(":", 1) for p in b["run_name"].split("/")[1:])
            method = f["method"] + ("/" + f["esp_alg"] if "esp_alg" in f else "")
            key = (f["direction"], method, f["size"], int(f["bindings"]))
            cases.setdefault(key, {})[b["repetition_index"]] = b
        rows = table(self.md(), "direction")[1:]
        got = {(r[0], r[1], r[2], int(r[3].replace(" ", ""))): r for r in rows}
        self.assertEqual(set(got), set(cases), "one row per case of the fixture, no other")
        self.assertEqual(len(rows), len(cases), "no case twice")
        for key, reps in cases.items():
            r = got[key]
            ratio = statistics.median(b["nemo_mpps"] / b["bare_forward_mpps"] for b in reps.values())
            self.assertEqual(f"{median_of(r[6]):.3f}", f"{ratio:.3f}", f"ratio of {key}")
            touch = statistics.median(b["touch_forward_mpps"] / b["bare_forward_mpps"] for b in reps.values())
            self.assertEqual(f"{median_of(r[7]):.3f}", f"{touch:.3f}", f"touch ceiling of {key}")
            self.assertEqual(f"{float(r[4]):.3f}", f"{statistics.median(b['bare_forward_mpps'] for b in reps.values()):.3f}")
            self.assertEqual(f"{float(r[5]):.3f}", f"{statistics.median(b['nemo_mpps'] for b in reps.values()):.3f}")
            peer = cases.get((key[0], "ipip", key[2], key[3]))
            if key[1] == "ipip" or not peer:
                self.assertEqual(r[8], "-")
            else:
                want = statistics.median(b["nemo_mpps"] / peer[i]["nemo_mpps"] for i, b in reps.items())
                self.assertEqual(f"{median_of(r[8]):.3f}", f"{want:.3f}", f"peer ratio of {key}")
            if len(reps) > 1:
                lo = min(b["nemo_mpps"] / b["bare_forward_mpps"] for b in reps.values())
                self.assertIn(f"[{lo:.3f}-", r[6], "the range of the paired ratios")

    def test_pipeline_ratio_by_hand(self):
        # down ipip 64 B, 1 000 bindings: repetitions 0 and 1 of the fixture.
        reps = [b for b in runs("pipeline") if b["run_name"] == "Pipeline/direction:down/method:ipip/size:64/bindings:1000"]
        self.assertEqual(len(reps), 2)
        a, b = (x["nemo_mpps"] / x["bare_forward_mpps"] for x in reps)
        row = [r for r in table(self.md(), "direction")[1:] if r[:4] == ["down", "ipip", "64", "1 000"]]
        self.assertEqual(row[0][6], f"**{(a + b) / 2:.3f} [{min(a, b):.3f}-{max(a, b):.3f}]**")

    def test_bu_rates(self):
        ctl = {b["run_name"]: b for b in runs("control") if b.get("aggregate_name") == "median"}
        rows = table(self.md(), "bindings")[1:]
        self.assertEqual([r[0] for r in rows], ["1 000", "1 000 000"])
        for r in rows:
            n = r[0].replace(" ", "")
            bu, dec = ctl[f"BM_BuToBa/{n}"]["items_per_second"], ctl[f"BM_DecisionOnly/{n}"]["items_per_second"]
            self.assertEqual(r[1].replace(" ", ""), str(round(bu)))
            self.assertEqual(r[3], f"**{bu / dec:.3f}**")

        state = {}
        for b in runs("state"):
            m = re.match(r"BuToBa/routers:(\d+)/store:(on|off)/rep:(\d+)", b["run_name"])
            if m:
                state.setdefault(int(m.group(1)), {}).setdefault(m.group(2), {})[int(m.group(3))] = b["BU_per_s"]
        rows = table(self.md(), "routers")[1:]
        self.assertEqual(len(rows), len(state))
        for r in rows:
            s = state[int(r[0].replace(" ", ""))]
            paired = [s["on"][i] / s["off"][i] for i in s["on"]]
            self.assertEqual(f"{median_of(r[3]):.3f}", f"{statistics.median(paired):.3f}", f"on/off of {r[0]}")
            self.assertEqual(median_of(r[1]), round(statistics.median(s["off"].values())))

    def test_esp(self):
        nemo = {}
        for b in runs("esp"):
            if b.get("run_type") == "iteration":
                d = "encrypt" if "Encrypt" in b["name"] else "decrypt"
                nemo[(b["label"], d, int(b["name"].split("/")[2]))] = b
        perf = {}
        for b in runs("crypto_perf"):
            _, alg, d, size = b["name"].split("/")
            perf[(alg, d, int(size))] = b["items_per_second"]
        rows = table(self.md(), "algorithm")[1:]
        self.assertEqual(len(rows), len(nemo))
        checked = 0
        for r in rows:
            key = (r[0], r[1], int(r[2].split()[0]))
            b = nemo[key]
            self.assertEqual(r[3], f"{b['items_per_second'] / 1e6:.2f}")
            self.assertEqual(r[4], f"{b['bytes_per_second'] * 8 / 1e9:.2f}", "Gbps from the payload bytes")
            if key in perf:
                self.assertEqual(r[6], f"**{b['items_per_second'] / perf[key]:.3f}**")
                checked += 1
            else:
                self.assertEqual(r[6], "-")
        self.assertGreater(checked, 0, "the fixture has crypto-perf figures to compare with")

    def test_machine_and_date(self):
        md = self.md()
        for stem in ("pipeline", "control", "state", "esp", "crypto_perf"):
            with open(os.path.join(FIXTURE, f"{stem}.json")) as f:
                ctx = json.load(f)["context"]
            self.assertIn(f"date {ctx['date']}", md)
        self.assertIn("**fixture run**", md)
        self.assertIn("same run", md)

    def test_plots_are_images(self):
        for fmt, (d, md) in self.out.items():
            links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
            names = sorted(os.path.basename(p) for p in links)
            self.assertEqual(names, sorted(f"{s}.{fmt}" for s in ("pipeline_mpps", "pipeline_ratio", "bu_rate", "esp_gbps")))
            for link in links:
                path = os.path.join(d, link)
                with open(path, "rb") as f:
                    data = f.read()
                if fmt == "png":
                    self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", path)
                    self.assertEqual(data[12:16], b"IHDR", path)
                    w, h = struct.unpack(">II", data[16:24])
                    self.assertGreater(w, 200, path)
                    self.assertGreater(h, 100, path)
                    self.assertEqual(data[-8:-4], b"IEND", path)
                else:
                    root = ET.fromstring(data)
                    self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg", path)
                    paths = root.findall(".//{http://www.w3.org/2000/svg}path")
                    self.assertGreater(len(paths), 10, f"{path}: drawn lines")

    def test_no_json_is_an_error(self):
        with tempfile.TemporaryDirectory() as empty:
            r = subprocess.run([sys.executable, SCRIPT, "--in", empty, "--out", os.path.join(empty, "r.md"),
                                "--plots", os.path.join(empty, "p")], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("no benchmark JSON", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(empty, "r.md")))


if __name__ == "__main__":
    unittest.main()
