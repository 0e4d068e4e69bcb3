"""Simulate one full-size DSA-110 group (96 antennas, 16 x 48 channels, 24 integrations).

Reports wall time and peak memory of the simulation (in a fresh process), and compares
it with two references measured in the same run: `cp` of the 16 files it wrote (the
disk's floor) and the telescope's own 309 s per group.

    .venv/bin/python bench/simulate_full.py [--out DIR]
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import report, timed, timed_child

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=None, help="keep the night here (default: a temp dir)")
args = parser.parse_args()
out = args.out or Path(tempfile.mkdtemp(prefix="full_group_"))

code = f"""
import sys; sys.path.insert(0, 'tests')
from pathlib import Path
from conftest import simulate_night
simulate_night(Path({str(out)!r}), scale='full', scales={{'full': {{'n_antennas': 96, 'channels_per_subband': 48, 'n_groups': 1}}}})
"""
sim = timed_child(code)
files = sorted((out / "incoming").glob("*.hdf5"))
size_gb = sum(f.stat().st_size for f in files) / 1e9
copy_dir = out / "copy"
copy_s, _ = timed(subprocess.run, ["cp", "-r", str(out / "incoming"), str(copy_dir)], check=True)
shutil.rmtree(copy_dir)
report(
    "simulate_full",
    {
        "files": len(files),
        "bytes_gb": round(size_gb, 2),
        "simulate_wall_s": sim["wall_s"],
        "simulate_peak_rss_gib": sim["peak_rss_gib"],
        "cp_wall_s": round(copy_s, 2),
        "ratio_to_cp": round(sim["wall_s"] / copy_s, 1),
        "ratio_to_309s_realtime": round(sim["wall_s"] / 309.2, 2),
        "data": str(out),
    },
)
