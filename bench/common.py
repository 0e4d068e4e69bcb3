"""Helpers shared by the benchmarks: timing, peak memory of a child process, result files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench/results"
sys.path.insert(0, str(ROOT / "tests"))


PEAK_FOOTER = """
import resource as _r
print("PEAK_KIB", max(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss, _r.getrusage(_r.RUSAGE_CHILDREN).ru_maxrss))
"""


def timed_child(code: str) -> dict:
    """Run Python ``code`` in a fresh interpreter: wall seconds, and the peak RSS (GiB) of it and its workers."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + PEAK_FOOTER], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step failed (exit {done.returncode}):\n{code}\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - start
    peak_kib = int(done.stdout.rsplit("PEAK_KIB", 1)[1])
    return {"wall_s": round(wall, 2), "peak_rss_gib": round(peak_kib / 2**20, 2)}


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def report(name: str, result: dict) -> None:
    """Print the result and keep it under bench/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def full_size_group(description: str, prefix: str) -> tuple[Path, list[Path]]:
    """Parse ``--data DIR`` (a night from bench/simulate_full.py --out; default: simulate one
    full-size group now); return a fresh scratch directory and the group's 16 files."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=None, help="a full-size night (default: simulate one group)")
    data = parser.parse_args().data
    work = Path(tempfile.mkdtemp(prefix=prefix))
    if data is None:
        data = work / "night"
        timed_child(
            "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from conftest import simulate_night; "
            f"simulate_night(Path({str(data)!r}), scale='full', "
            "scales={'full': {'n_antennas': 96, 'channels_per_subband': 48, 'n_groups': 1}})"
        )
    return work, sorted((data / "incoming").glob("*.hdf5"))[:16]


def naive_conversion(files: list[Path], out_ms: Path, merge: str = "+=") -> str:
    """Code for a fresh process: pyuvdata reads the 16 files one by one and merges them
    (``merge``: "+=" as its multi-file read does, or "fast_concat"), phases to the group's
    mid-time meridian, and writes ``out_ms`` with ``write_ms``."""
    merged = {
        "+=": "uvd = parts[0]\nfor p in parts[1:]:\n    uvd += p",
        "fast_concat": "uvd = parts[0].fast_concat(parts[1:], axis='freq', run_check=False)",
    }[merge]
    return f"""
import warnings; warnings.simplefilter("ignore")
import numpy as np
from pyuvdata import UVData
from contimg import geometry
parts = []
for f in {[str(f) for f in files]!r}:  # the correlator writes uvw as float32; pyuvdata's check wants float64
    p = UVData(); p.read(f, file_type="uvh5", run_check=False); p.uvw_array = p.uvw_array.astype(float); parts.append(p)
{merged}
jd = np.mean(np.unique(uvd.time_array))
ra, dec = geometry.meridian_icrs(jd, uvd.extra_keywords["phase_center_dec"], uvd.telescope.location)
uvd.phase(lon=ra[0], lat=dec[0], cat_name="centre")
uvd.write_ms("{out_ms}", run_check=False)
"""
