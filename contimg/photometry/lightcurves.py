"""Light curves of the run: every group's forced photometry gathered per source, the
variability metrics of each source, the candidates and their plots, and the new-source
candidates of the blind detections.

Built from the per-group tables alone, so re-running gives the same rows: one measurement
per (group, source) (a duplicate is an error, not something to average), sorted.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import Variability
from . import blind, forced, variability

SOURCE_COLUMNS = [
    "name",
    "ra_deg",
    "dec_deg",
    "n_measurements",
    "catalog_flux_jy",
    "max_snr",
    *variability.METRICS,
    "variable",
    "reason",
]


EPOCH = ["obs", "mjd", "freq_hz"]  # the columns every per-group table starts with


def _read(paths: list[Path], columns: list[str]) -> pd.DataFrame:
    """The per-group tables at ``paths`` one after the other (``columns`` when all are empty)."""
    tables = [t for t in (pd.read_parquet(p) for p in paths) if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=EPOCH + columns)


def measurements(forced_paths: list[Path]) -> pd.DataFrame:
    """All forced measurements, sorted by source and time; unique per (obs, name)."""
    table = _read(forced_paths, forced.COLUMNS)
    if table.empty:
        return table
    duplicated = table.duplicated(["obs", "name"], keep=False)
    if duplicated.any():
        pairs = table.loc[duplicated, ["obs", "name"]].drop_duplicates().head(5).to_records(index=False)
        raise ValueError(f"photometry tables repeat (group, source) rows, e.g. {list(pairs)}")
    return table.sort_values(["name", "mjd"], kind="stable").reset_index(drop=True)


def position(curve: pd.DataFrame) -> tuple[float, float]:
    """A source's (RA, Dec): the SNR^2-weighted mean of the positions its images detected it
    at (`forced.at_detections`; at high declination RA is averaged as an offset from the first),
    the catalogue's where none did."""
    seen = curve[curve["position_from"] == "detection"]
    if seen.empty:
        return float(curve["ra_deg"].iloc[0]), float(curve["dec_deg"].iloc[0])
    w = seen["snr"].to_numpy(float) ** 2
    ra = seen["ra_deg"].to_numpy(float)
    d_ra = (ra - ra[0] + 180) % 360 - 180
    return float((ra[0] + np.average(d_ra, weights=w)) % 360), float(np.average(seen["dec_deg"], weights=w))


def sources(table: pd.DataFrame, limits: Variability) -> pd.DataFrame:
    """One row per source (columns ``SOURCE_COLUMNS``): position (`position`), measurements, metrics
    (`variability.METRICS`, from the measurements without `forced.UNRELIABLE` flags), the
    candidate's reason and the ``variable`` flag."""
    if table.empty:
        return pd.DataFrame(columns=SOURCE_COLUMNS)
    rows = []
    for name, curve in table.groupby("name", sort=True):
        ra, dec = position(curve)
        row = {
            "name": name,
            "ra_deg": ra,
            "dec_deg": dec,
            "n_measurements": len(curve),
            "catalog_flux_jy": float(curve["catalog_flux_jy"].mean()),
            "max_snr": float(curve["snr"].max()) if curve["snr"].notna().any() else np.nan,
        }
        good = curve[(curve["flags"] & forced.UNRELIABLE) == 0]
        row.update(variability.metrics(good["flux_jy"], good["flux_err_jy"], good["catalog_flux_jy"]))
        row["reason"] = variability.is_candidate(row, limits)
        row["variable"] = bool(row["reason"])
        rows.append(row)
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)


def new_sources(blind_paths: list[Path]) -> pd.DataFrame:
    """The blind detections of every group flagged ``new_source``, sorted by time."""
    table = _read(blind_paths, blind.COLUMNS)
    if table.empty:
        return table
    return table[table["new_source"]].sort_values(["mjd", "ra_deg"], kind="stable").reset_index(drop=True)


def plot_name(source: str) -> str:
    """A file name for a source's plot: its name with anything but [A-Za-z0-9+-.] as '_'."""
    return re.sub(r"[^A-Za-z0-9+\-.]", "_", source) + ".png"


def plot(curve: pd.DataFrame, summary: dict, path: Path) -> None:
    """Flux density against the observation's mid-time, with errors and the catalogue flux."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    t0 = np.floor(curve["mjd"].min())
    ax.errorbar(curve["mjd"] - t0, curve["flux_jy"] * 1e3, yerr=curve["flux_err_jy"] * 1e3, fmt="o", capsize=3)
    ax.plot(curve["mjd"] - t0, curve["catalog_flux_jy"] * 1e3, "k--", lw=1, label="catalogue")
    ax.set(
        xlabel=f"MJD - {t0:.0f} (observation mid-time)",
        ylabel="flux density (mJy)",
        title=f"{summary['name']}: eta {summary['eta']:.1f}, V {summary['v']:.2f}, "
        f"Vs {summary['vs']:.1f}, m {summary['m']:.2f}",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def build(forced_paths: list[Path], blind_paths: list[Path], out_dir: Path, limits: Variability) -> dict:
    """Write measurements.parquet, sources.parquet, new_sources.parquet and plots/ (one PNG
    per variability candidate) into ``out_dir``; return a summary."""
    table = measurements(forced_paths)
    summary_rows = sources(table, limits)
    found = new_sources(blind_paths)
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for row in summary_rows[summary_rows["variable"]].to_dict("records"):
        plot(table[table["name"] == row["name"]], row, plots / plot_name(row["name"]))
    table.to_parquet(out_dir / "measurements.parquet", index=False)
    summary_rows.to_parquet(out_dir / "sources.parquet", index=False)
    found.to_parquet(out_dir / "new_sources.parquet", index=False)
    return {
        "n_measurements": len(table),
        "n_sources": len(summary_rows),
        "variable": list(summary_rows.loc[summary_rows["variable"], "name"]),
        "n_new_sources": len(found),
    }
