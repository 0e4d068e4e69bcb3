"""The planning summary (`snakemake plan`): what a run will do and what it will cost, before
spending a cluster allocation.

Jobs per stage are the products that are missing (a dry run also re-runs outdated ones:
`snakemake -n` gives the exact list); each job's time, memory and disk come from the
`benchmark:` records and products of earlier jobs of this work area, or, before there are
any, from the full-size measurements in docs/performance.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# Full-size group (96 antennas, 768 channels, 24 integrations; bench/realtime, bench/calibrate_full):
# wall seconds on the rule's threads, peak GiB, bytes of product
DEFAULTS = {
    "convert": (20.0, 4.7, 1.40e9),
    "solve_calibration": (280.0, 6.0, 4.5e6),
    "apply_calibration": (13.0, 0.8, 3.5e8),  # channels averaged 4 to 1
    "image": (56.0, 1.6, 4.03e8),
    "photometry": (15.0, 1.2, 6.1e4),
    "mosaic": (37.0, 4.0, 4.0e8),  # bench/hour: the hourly mosaic of 12 full-size images
}
RECENT = 200  # benchmark records read per stage (the newest by name)


def measured(benchmarks: Path, stage: str) -> tuple[float, float, int] | None:
    """(mean wall s, max peak GiB, number of records) of the stage's newest benchmark records."""
    folder = benchmarks / stage
    names = sorted(os.listdir(folder))[-RECENT:] if folder.is_dir() else []
    rows = []
    for name in names:
        try:
            rows.append(pd.read_csv(folder / name, sep="\t").iloc[-1])
        except (OSError, ValueError, IndexError):
            continue  # a record being written
    if not rows:
        return None
    table = pd.DataFrame(rows)
    return float(table["s"].mean()), float(table["max_rss"].max()) / 1024.0, len(rows)


def product_bytes(products: list[list[str]], sample: int = 5) -> float | None:
    """Mean size of the existing products (each a list of files or CASA tables), over up to
    ``sample`` of them."""
    sizes = []
    for files in (f for f in products if os.path.exists(f[0])):
        sizes.append(sum(path_bytes(Path(p)) for p in files if os.path.exists(p)))
        if len(sizes) == sample:
            break
    return sum(sizes) / len(sizes) if sizes else None


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a directory (a CASA table)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def stage_rows(
    work: Path, jobs: dict[str, list[list[str]]], products: dict[str, list[list[str]]], threads: dict[str, int]
) -> list[dict]:
    """One row per stage: jobs (missing products), time, memory and disk estimates and their source."""
    rows = []
    for stage, missing in jobs.items():
        seconds, peak_gib, size = DEFAULTS[stage]
        source = "default (full-size measurement)"
        bench = measured(work / "benchmarks", stage)
        if bench:
            seconds, peak_gib, n = bench
            source = f"{n} benchmark record(s)"
        size = product_bytes(products[stage]) or size
        rows.append(
            {
                "stage": stage,
                "jobs": len(missing),
                "threads": threads[stage],
                "s_per_job": round(seconds, 1),
                "core_hours": round(len(missing) * seconds * threads[stage] / 3600.0, 2),
                "peak_gib": round(peak_gib, 2),
                "disk_gb": round(len(missing) * size / 1e9, 2),
                "source": source,
            }
        )
    return rows


def summary(
    work: Path,
    jobs: dict[str, list[list[str]]],
    products: dict[str, list[list[str]]],
    threads: dict[str, int],
    groups: pd.DataFrame,
    selected: int,
    left_out: dict[str, int],
    no_calibration: dict[str, str],
    unit: str,
    nights: int,
) -> dict:
    """The whole summary: stages, totals, and every group that will not be processed, with why."""
    rows = stage_rows(work, jobs, products, threads)
    skipped = groups.loc[groups["status"] != "complete", ["obs", "status", "reason"]].to_dict("records")
    skipped += [{"obs": obs, "status": "no calibration", "reason": why} for obs, why in no_calibration.items() if why]
    return {
        "unit": unit,
        "nights": nights,
        "groups_in_inventory": len(groups),
        "groups_selected": selected,
        "left_out_by_selection": left_out,
        "stages": rows,
        "total": {
            "jobs": sum(r["jobs"] for r in rows),
            "core_hours": round(sum(r["core_hours"] for r in rows), 2),
            "peak_gib_per_job": max((r["peak_gib"] for r in rows if r["jobs"]), default=0.0),
            "disk_gb": round(sum(r["disk_gb"] for r in rows), 2),
        },
        "skipped": skipped,
    }


def text(plan: dict, max_skipped: int = 20) -> str:
    """The summary as a table for the terminal."""
    lines = [
        f"{plan['groups_selected']} of {plan['groups_in_inventory']} groups selected "
        f"(left out: {plan['left_out_by_selection'] or 'none'}); unit: {plan['unit']}"
        + (f", {plan['nights']} night job(s)" if plan["unit"] == "night" else ""),
        "",
        f"{'stage':<18} {'jobs':>7} {'threads':>7} {'s/job':>7} {'core-h':>8} {'peak GiB':>8} {'disk GB':>8}  estimate from",
    ]
    for r in plan["stages"]:
        lines.append(
            f"{r['stage']:<18} {r['jobs']:>7} {r['threads']:>7} {r['s_per_job']:>7} {r['core_hours']:>8} "
            f"{r['peak_gib']:>8} {r['disk_gb']:>8}  {r['source']}"
        )
    t = plan["total"]
    lines.append(
        f"{'total':<18} {t['jobs']:>7} {'':>7} {'':>7} {t['core_hours']:>8} {t['peak_gib_per_job']:>8} "
        f"{t['disk_gb']:>8}"
    )
    lines += ["", f"{len(plan['skipped'])} group(s) will not be processed:"]
    for s in plan["skipped"][:max_skipped]:
        lines.append(f"  {s['obs']}  {s['status']}: {s['reason']}")
    if len(plan["skipped"]) > max_skipped:
        lines.append(f"  ... and {len(plan['skipped']) - max_skipped} more (planning/summary.json)")
    return "\n".join(lines) + "\n"
