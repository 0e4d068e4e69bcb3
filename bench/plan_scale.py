"""Dry-run planning of a big reprocessing run: `snakemake -n` on a synthetic inventory.

A work area with an inventory of N complete groups (one every 309 s, a calibrator transit
every day) and their 16 x N correlator files (empty: a dry run reads no data) is made once
(`--keep DIR` reuses it); then `snakemake -n` plans every product of every group, by night
(planning.unit night, as reprocessing runs do) and by group (the default unit; skipped above
20,000 groups unless --by-group). Prints wall time and peak memory against the goals (one
month, 8,640 groups: 15 s; one year, 105,000 groups: 120 s and 4 GB), and the same dry run
of a bare 1-rule workflow with one job per group (Snakemake's own cost per job) as the
baseline.

    .venv/bin/python bench/plan_scale.py [--groups 8640] [--keep DIR] [--by-group]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from common import ROOT, report

GROUP_S = 309.0
DAY_GROUPS = int(86400 // GROUP_S)


def make_area(area: Path, n_groups: int) -> None:
    """config/, incoming/ (16 empty files per group) and work/inventory/groups.csv of ``n_groups`` groups."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["simulation"]["enabled"] = False
    cfg["paths"] = {"incoming": "incoming", "work": "work", "truth": "work/truth"}
    for section, key in (
        ("inventory", "calibrator_catalog"),
        ("calibration", "field_catalog"),
        ("imaging", "catalog"),
        ("photometry", "catalog"),
        ("simulation", "sky_catalog"),
        ("simulation", "calibrator_catalog"),
        ("conversion", "aoflagger_strategy"),
        ("instrument", "station_table"),
        ("simulation", "station_table"),
    ):
        cfg[section][key] = str(ROOT / cfg[section][key])
    (area / "config").mkdir(parents=True)
    (area / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    groups = groups_table(n_groups)
    incoming = area / "incoming"
    incoming.mkdir()
    for name in groups[[f"sb{sb:02d}" for sb in range(16)]].to_numpy().ravel():
        (incoming / name).touch()
    (area / "work/inventory").mkdir(parents=True)
    groups.to_csv(area / "work/inventory/groups.csv", index=False)
    pd.DataFrame(columns=["name"]).to_csv(area / "work/inventory/files.csv", index=False)


def groups_table(n_groups: int) -> pd.DataFrame:
    """An inventory of ``n_groups`` complete groups from 2026-01-01 00:00 UTC, one every 309 s,
    a calibrator transit a day (the middle group of each day)."""
    start = pd.Timestamp("2026-01-01T00:00:00")
    stamps = [start + pd.Timedelta(seconds=GROUP_S * k) for k in range(n_groups)]
    names = [s.strftime("%Y-%m-%dT%H:%M:%S") for s in stamps]
    mjd = np.array([s.to_julian_date() - 2400000.5 for s in stamps])
    groups = pd.DataFrame(
        {
            "obs": [n.replace("-", "").replace(":", "") for n in names],
            "status": "complete",
            "reason": "",
            "n_files": 16,
            "mjd_start": mjd,
            "mjd_mid": mjd + GROUP_S / 2 / 86400,
            "mjd_end": mjd + GROUP_S / 86400,
            "pointing_dec_deg": 54.57,
            "lst_start_h": 0.0,
            "lst_end_h": 0.0,
            "n_freqs": 768,
            "n_times": 24,
            **{f"sb{sb:02d}": [f"{n}_sb{sb:02d}.hdf5" for n in names] for sb in range(16)},
        }
    )
    is_cal = np.arange(n_groups) % DAY_GROUPS == DAY_GROUPS // 2
    groups["calibrator"] = np.where(is_cal, "SIM CAL J0907+5440", "")
    for column in ("calibrator_flux_jy", "calibrator_ha_deg", "calibrator_transit_mjd", "calibrator_offset_deg"):
        groups[column] = np.where(is_cal, 1.0, np.nan)
    return groups


BARE_SNAKEFILE = """
import pandas as pd
GROUPS = pd.read_csv("work/inventory/groups.csv", usecols=["obs"])["obs"].tolist()
rule all:
    input: expand("work/out/{obs}.done", obs=GROUPS)
rule one:
    output: "work/out/{obs}.done"
    shell: "touch {output}"
"""


def dry_run(area: Path, snakefile: Path, *config: str) -> dict:
    """Wall time and peak RSS (/usr/bin/time) of `snakemake -n` in ``area``."""
    start = time.perf_counter()
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "PEAK_KIB %M",
            sys.executable,
            "-P",
            "-m",
            "snakemake",
            "-s",
            str(snakefile),
            "-n",
            "--quiet",
            "all",
            "--cores",
            "2",
            *(["--config", *config] if config else []),
        ],
        cwd=area,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak_kib = int(done.stderr.rsplit("PEAK_KIB", 1)[1])
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(peak_kib / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=8640)
    parser.add_argument("--keep", type=Path, help="make the area here once and reuse it")
    parser.add_argument("--by-group", action="store_true", help="plan by group also above 20,000 groups (slow)")
    args = parser.parse_args()
    area = args.keep or Path(tempfile.mkdtemp(prefix="plan_scale_"))
    if not (area / "config").exists():
        start = time.perf_counter()
        make_area(area, args.groups)
        print(f"made {args.groups} groups in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    (area / "bare.smk").write_text(BARE_SNAKEFILE)
    by_night = dry_run(area, ROOT / "Snakefile", "planning={unit: night}")
    by_group = dry_run(area, ROOT / "Snakefile") if args.groups <= 20000 or args.by_group else None
    bare = dry_run(area, area / "bare.smk")
    report(
        f"plan_scale_{args.groups}",
        {
            "groups": args.groups,
            "by_night": by_night,
            "by_group": by_group,
            "bare_one_rule": bare,
            "by_night_over_bare": round(by_night["wall_s"] / bare["wall_s"], 2),
        },
    )
    if args.keep is None:
        shutil.rmtree(area)


if __name__ == "__main__":
    main()
