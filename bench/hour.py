"""An hour of the telescope on one 2-core node, against the 3,600 s in which the telescope writes it.

Twelve full-size groups (96 antennas, 16 x 48 channels, 24 integrations each; the second
holds a calibrator transit), under the demo sky repeated eastwards to fill the hour
(`hour_sky`), are simulated once into ``--work`` (not timed; kept and reused). Then, as users
run the workflow, timed:
  1. `snakemake` on the calibrator group's MS (its conversion: part of the hour);
  2. `snakemake` on its calibration tables (the day's solve: counted at 1/24 of its time,
     one calibrator transit a day);
  3. `snakemake` with no target: every group converted, calibrated, imaged and measured, the
     hour's mosaic, the night's measurements and light curves, and the products index.
The hour's time is 1 + 2/24 + 3, against 3,600 s (goal: <= 2,700 s). Peak memory is the
largest sum of resident memory over the whole process tree of the running step, sampled
every 0.5 s (goal: < 16 GiB); each job's own wall time and peak come from its `benchmark:`
record. The work area keeps only what a real-time run keeps (`calibration.temporary_ms`:
the uncalibrated MS goes once calibrated): ~50 GB for 12 groups.

    bench/hour [--work DIR] [--groups 12]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

from common import ROOT, report

HOUR_S = 3600.0
GOAL_S = 2700.0
GOAL_PEAK_GIB = 16.0


class PeakMemory:
    """The largest sum of RSS over a process and its descendants, sampled while a with-block runs."""

    def __init__(self, pid: int, every_s: float = 0.5):
        self.pid, self.every_s, self.peak_bytes = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in tree:
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def snakemake(work: Path, *args: str) -> dict:
    """Run the workflow in ``work`` on 2 cores: its wall time (s) and peak memory (GiB)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args, "--cores", "2", "--quiet", "rules"]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=work)
    with PeakMemory(process.pid) as memory:
        if process.wait() != 0:
            raise SystemExit(f"snakemake {' '.join(args)} failed (exit {process.returncode}); logs in {work}/work/logs")
    return {"wall_s": round(time.perf_counter() - start, 1), "peak_gib": round(memory.peak_bytes / 2**30, 2)}


def hour_sky(demo: pd.DataFrame, copies: int) -> pd.DataFrame:
    """The demo sky with its field sources repeated ``copies`` times further east, each copy
    shifted by the demo sky's RA span (named "<name> +k"; calibrators not repeated): the demo
    sky covers the demo night's half hour, and an hour's later groups would see an empty sky
    (fewer sources to subtract and clean: a faster, unrepresentative hour)."""
    span = np.ceil(demo["ra_deg"].max() - demo["ra_deg"].min())
    field = demo[~demo["name"].str.startswith("SIM CAL")]
    shifted = [
        field.assign(ra_deg=field["ra_deg"] + k * span, name=field["name"] + f" +{k}") for k in range(1, copies + 1)
    ]
    return pd.concat([demo, *shifted], ignore_index=True)


def deploy(work: Path, n_groups: int) -> None:
    """``work``/config/: the project's config at full scale, ``n_groups`` groups from the top of an
    hour (so one mosaic holds them all) under a sky that fills the hour (`hour_sky`, the
    simulation's and the workflow's catalogue), keeping no uncalibrated MS; afresh on every run
    (a kept work area then has today's settings and schema)."""
    shutil.copytree(ROOT / "config", work / "config", dirs_exist_ok=True)
    cfg_path = work / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["simulation"]["scale"] = "full"
    cfg["simulation"]["scales"]["full"]["n_groups"] = n_groups
    cfg["calibration"]["temporary_ms"] = True
    demo = pd.read_csv(work / cfg["simulation"]["sky_catalog"], comment="#")
    hour_catalog = "config/catalogs/hour_sky.csv"
    hour_sky(demo, copies=2).to_csv(work / hour_catalog, index=False)
    cfg["simulation"]["sky_catalog"] = cfg["calibration"]["field_catalog"] = hour_catalog
    cfg["imaging"]["catalog"] = cfg["photometry"]["catalog"] = hour_catalog
    cfg_path.write_text(yaml.safe_dump(cfg))


def calibrator_group(work: Path) -> str:
    """The inventory's calibrator group."""
    with open(work / "work/inventory/groups.csv") as f:
        return next(r["obs"] for r in csv.DictReader(f) if r["status"] == "complete" and r["calibrator"])


def forget_products(work: Path) -> None:
    """Remove every product after the inventory (and the simulation) from an earlier run of this bench."""
    keep = {"incoming", "inventory", "truth", "catalogs"}
    for path in (work / "work").iterdir():
        if path.name not in keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def jobs_by_rule(work: Path) -> dict:
    """Per rule: number of jobs, total and median wall seconds, and the largest peak (GiB), from
    the jobs' `benchmark:` records."""
    rows = defaultdict(list)
    for tsv in (work / "work/benchmarks").glob("*/*.tsv"):
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        rows[tsv.parent.name].append((float(row["s"]), float(row["max_rss"]) / 1024))
    return {
        rule: {
            "jobs": len(values),
            "total_s": round(sum(s for s, _ in values), 1),
            "median_s": round(statistics.median(s for s, _ in values), 1),
            "peak_gib": round(max(m for _, m in values), 2),
        }
        for rule, values in sorted(rows.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/contimg_hour"),
        help="the hour's working directory, its simulated files kept and reused (default %(default)s)",
    )
    parser.add_argument("--groups", type=int, default=12, help="groups in the hour (default %(default)s)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    deploy(work, args.groups)
    snakemake(work, "inventory")  # simulates the hour the first time
    forget_products(work)
    cal = calibrator_group(work)
    steps = {
        "convert_calibrator": snakemake(work, f"work/ms/{cal}.ms"),
        "solve_calibration": snakemake(work, f"work/caltables/{cal}"),
        "everything_else": snakemake(work),
    }
    hour_s = (
        steps["convert_calibrator"]["wall_s"]
        + steps["solve_calibration"]["wall_s"] / 24
        + steps["everything_else"]["wall_s"]
    )
    peak = max(step["peak_gib"] for step in steps.values())
    mosaics = sorted(p.name for p in (work / "work/mosaics").glob("*.fits"))
    result = {
        "groups": args.groups,
        "steps": steps,
        "jobs": jobs_by_rule(work),
        "mosaics": mosaics,
        "hour_s": round(hour_s, 1),
        "hour_over_3600s": round(hour_s / HOUR_S, 3),
        "peak_gib": peak,
        "goal_met": hour_s <= GOAL_S and peak < GOAL_PEAK_GIB,
    }
    report("hour", result)
    print(
        f"hour: {args.groups} groups in {hour_s:.0f} s = {hour_s / HOUR_S:.2f} x 3,600 s "
        f"(goal <= {GOAL_S:.0f} s), peak {peak:.1f} GiB (goal < {GOAL_PEAK_GIB:.0f})"
    )
    sys.exit(0 if result["goal_met"] else 1)


if __name__ == "__main__":
    main()
