"""Inventory of 100,000 small correlator-format files (6,250 groups of 16 subbands).

The files are copies of 16 real UVH5 files from a minimal simulation (2 antennas,
1 channel; the header still lists all 117 stations), renamed to consecutive groups
with their header times moved to match.
Measured in one run:
  - the inventory's cold scan (2 processes), and a re-scan with its header cache;
  - the baseline: pyuvdata's metadata-only read (`UVData.read(read_data=False)`) of a
    sample of the files, extrapolated to all of them.

    .venv/bin/python bench/inventory_100k.py [--files 100000]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from pyuvdata import UVData

from common import report, timed
from conftest import project_config, simulate_night
from contimg import inventory, layout, naming, sky

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--files", type=int, default=100_000)
parser.add_argument("--sample", type=int, default=300, help="files read by the pyuvdata baseline")
args = parser.parse_args()

work = Path(tempfile.mkdtemp(prefix="inventory_bench_"))
_, seed_files = simulate_night(
    work / "seed", scale="tiny", scales={"tiny": {"n_antennas": 2, "channels_per_subband": 1, "n_groups": 1}}
)
incoming = work / "incoming"
incoming.mkdir()
start = np.datetime64("2026-01-01T00:00:00")
make_s = time.perf_counter()
seed_stamp = naming.parse_raw_filename(seed_files[0].name)[0]
for g in range(args.files // 16):
    shift_s = int(g * 309.2)
    stamp = str(start + np.timedelta64(shift_s, "s"))
    shift_days = (np.datetime64(stamp) - np.datetime64(seed_stamp)) / np.timedelta64(1, "D")
    for sb, src in enumerate(seed_files):
        dest = incoming / naming.raw_filename(stamp, sb)
        shutil.copyfile(src, dest)
        with h5py.File(dest, "r+") as handle:
            handle["Header/time_array"][:] += shift_days
make_s = time.perf_counter() - make_s

cfg = project_config()
site = layout.site_location(cfg["instrument"]["site"])
calibrators = sky.read_catalog(cfg["inventory"]["calibrator_catalog"])
cold_s, (files, groups) = timed(inventory.build, incoming, None, cfg["inventory"], 16, calibrators, site)
warm_s, _ = timed(inventory.build, incoming, files, cfg["inventory"], 16, calibrators, site)

sample = sorted(incoming.iterdir())[: args.sample]
t0 = time.perf_counter()
for path in sample:
    UVData().read(str(path), file_type="uvh5", read_data=False, run_check=False)
baseline_per_file = (time.perf_counter() - t0) / len(sample)
t0 = time.perf_counter()
for path in sample:
    inventory.read_header(path)
ours_per_file = (time.perf_counter() - t0) / len(sample)

report(
    "inventory_100k",
    {
        "files": len(files),
        "groups": len(groups),
        "groups_complete": int((groups["status"] == "complete").sum()),
        "file_bytes": seed_files[0].stat().st_size,
        "make_files_s": round(make_s, 1),
        "inventory_cold_s": round(cold_s, 1),
        "inventory_rescan_cached_s": round(warm_s, 1),
        "files_per_s_cold": round(len(files) / cold_s),
        "header_read_ms_ours": round(1e3 * ours_per_file, 2),
        "header_read_ms_pyuvdata_metadata_only": round(1e3 * baseline_per_file, 2),
        "speedup_vs_pyuvdata_per_file": round(baseline_per_file / ours_per_file, 1),
        "pyuvdata_extrapolated_s": round(baseline_per_file * len(files), 1),
    },
)
shutil.rmtree(work)
