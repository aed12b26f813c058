#!/usr/bin/python3
"""The golden pcap pairs, their counter files and the worker's fuzz seeds are what
scripts/gen_golden_pcaps.py writes today: regenerated into a temporary directory, every committed file must
be identical (a change to the rules in the generator must come with new fixtures)."""
import filecmp
import os
import subprocess
import sys
import tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
golden = os.path.join(root, "tests", "fixtures", "golden")
seeds = os.path.join(root, "tests", "fuzz", "seeds", "worker")
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "gen_golden_pcaps.py"), tmp], check=True,
                   stdout=subprocess.DEVNULL)
    made = sorted(os.listdir(tmp))
    committed = {f: os.path.join(golden, f) for f in os.listdir(golden)}
    committed.update({f: os.path.join(seeds, f) for f in os.listdir(seeds)})
    stale = [f for f in made if f not in committed or not filecmp.cmp(os.path.join(tmp, f), committed[f], shallow=False)]
    extra = [f for f in committed if f not in made]
    if stale or extra:
        print(f"regenerate with scripts/gen_golden_pcaps.py: differ {stale}, not generated any more {extra}")
        sys.exit(1)
    print(f"{len(made)} golden files current")
