"""Conversion of one full-size group (16 files, 96 antennas, 768 channels) to a flagged MS.

Measured in the same run, each in a fresh process (wall time and peak memory):
  - cp of the 16 files: the disk's floor, from the page cache and (as root) cold;
  - naive: pyuvdata reads the 16 files one by one and merges them with `+=` (what a
    multi-file `read` does; the float32 uvw of production files make `read(list)`
    itself fail), phases to the same centre, `write_ms`;
  - naive with `fast_concat(axis="freq")` instead of `+=`;
  - ours: `contimg.convert.convert_group` without AOFlagger (the converter alone; also
    cold), and with AOFlagger on 2 processes (the whole `convert` job).

    .venv/bin/python bench/convert_full.py [--data DIR]   (DIR from bench/simulate_full.py --out)
"""

import os
import shutil
from pathlib import Path

from common import full_size_group, naive_conversion, report, timed_child

work, files = full_size_group(__doc__.splitlines()[0], "convert_bench_")
listing = repr([str(f) for f in files])

OURS = f"""
import sys; sys.path.insert(0, "tests")
from pathlib import Path
from conftest import project_config
from contimg import convert, layout
cfg = project_config()
conv = dict(cfg["conversion"], aoflagger=AOFLAGGER, workers=2)
convert.convert_group([Path(f) for f in {listing}], Path("{work}/OUT.ms"), Path("{work}/OUT.json"),
                      layout.layout_from_config(cfg["instrument"]), conv, 5800.0, "bench")
"""


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only), so that files are read from the disk."""
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def fresh(code: str, name: str, cold: bool = False) -> dict:
    """Each contender starts with no dirty pages waiting for the disk (os.sync), so that
    the previous one's writes do not slow it down; ``cold`` also empties the page cache."""
    for old in work.glob("*.ms"):
        shutil.rmtree(old)
    shutil.rmtree(work / "cp", ignore_errors=True)
    os.sync()
    if cold and not drop_page_cache():
        return {"skipped": "cannot drop the page cache (not root)"}
    return timed_child(code.replace("OUT", name))


CP = f"import subprocess; subprocess.run(['cp', '-r', {str(files[0].parent)!r}, {str(work / 'cp')!r}], check=True)"
results = {
    "cp_cold": fresh(CP, "cp", cold=True),
    "ours_convert_only_cold": fresh(OURS.replace("AOFLAGGER", "False"), "ours", cold=True),
    "cp": fresh(CP, "cp"),
    "ours_convert_only": fresh(OURS.replace("AOFLAGGER", "False"), "ours"),
    "ours_convert_and_aoflagger": fresh(OURS.replace("AOFLAGGER", "True"), "ours_flagged"),
    "naive_pyuvdata_iadd": fresh(naive_conversion(files, work / "OUT.ms"), "naive"),
    "naive_pyuvdata_fast_concat": fresh(naive_conversion(files, work / "OUT.ms", "fast_concat"), "naive_fc"),
}
ours = results["ours_convert_only"]["wall_s"]
results["speedup_vs_naive_iadd"] = round(results["naive_pyuvdata_iadd"]["wall_s"] / ours, 1)
results["speedup_vs_naive_fast_concat"] = round(results["naive_pyuvdata_fast_concat"]["wall_s"] / ours, 1)
results["ratio_to_cp"] = round(ours / results["cp"]["wall_s"], 1)
if "wall_s" in results["cp_cold"]:
    results["ratio_to_cp_cold"] = round(results["ours_convert_only_cold"]["wall_s"] / results["cp_cold"]["wall_s"], 1)
report("convert_full", results)
shutil.rmtree(work)
