"""Light curves of the run: every group's forced photometry gathered per source, the
variability metrics of each source, the candidates and their plots, and the new-source
candidates of the blind detections.

Built from the per-group tables alone, so re-running gives the same rows: one measurement
per (group, source) (a duplicate is an error, not something to average), sorted. A night's
tables are first gathered into one table per night (`gather`: the same layout as a group's,
its flux errors with the night's measured flux-scale systematic added: `systematic`),
so adding a night reads that night's ~300 small files and ~365 night tables for a year,
not ~100,000 files; the metrics of all sources are then a few passes over arrays
(`variability.curves`), not a loop per source.
"""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..paths import SYSTEMATIC_KEY
from ..settings import Variability
from . import blind, forced, systematic, variability

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


STRINGS = ("obs", "name", "position_from", "catalog_name")  # read as dictionaries: cheap to sort and take


def _read(paths: list[Path], columns: list[str]) -> pa.Table:
    """The tables at ``paths`` one after the other, in one chunk, their `STRINGS` columns
    dictionary-encoded (an empty table of ``columns`` when all are empty; a column an older
    table lacks is null there)."""
    read = (pq.read_table(p, read_dictionary=STRINGS).replace_schema_metadata(None) for p in paths)
    tables = [t for t in read if t.num_rows]
    if not tables:
        return pa.Table.from_pandas(pd.DataFrame(columns=EPOCH + columns), preserve_index=False)
    return pa.concat_tables(tables, promote_options="default").unify_dictionaries().combine_chunks()


def _write(table: pa.Table, path: Path, metadata: dict | None = None) -> None:
    """Write ``table`` with its dictionary columns as plain strings (as the group tables hold
    them) and ``metadata`` as its schema's."""
    for name in [f.name for f in table.schema if pa.types.is_dictionary(f.type)]:
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(pa.string()))
    pq.write_table(table.replace_schema_metadata(metadata), path)


def with_night_systematic(table: pa.Table) -> tuple[pa.Table, float]:
    """``table`` (one night's measurements) with the night's systematic fraction
    (`systematic.fraction`) added in quadrature to its flux errors, and that fraction."""
    if not table.num_rows:
        return table, 0.0
    flux, err = _column(table, "flux_jy").astype(float), _column(table, "flux_err_jy").astype(float)
    clean = _column(table, "flags") == 0
    fraction = systematic.fraction(_codes(table, "name")[0], flux, err, _column(table, "snr").astype(float), clean)
    index = table.schema.get_field_index("flux_err_jy")
    return table.set_column(index, "flux_err_jy", pa.array(np.hypot(err, fraction * flux))), fraction


def gather(forced_paths: list[Path], blind_paths: list[Path], forced_out: Path, new_out: Path) -> tuple[int, float]:
    """Write the forced measurements of a night's groups (``forced_paths``) as one table, their
    errors with the night's systematic (`with_night_systematic`, kept in the table's metadata
    as `SYSTEMATIC_KEY`), and their new-source candidates (of ``blind_paths``) as another;
    return the measurements and the systematic fraction."""
    table, fraction = with_night_systematic(_read(forced_paths, forced.COLUMNS))
    _write(table, forced_out, {SYSTEMATIC_KEY: repr(fraction).encode()})
    found = _read(blind_paths, blind.COLUMNS)
    _write(found.filter(pc.equal(found["new_source"], True)) if found.num_rows else found, new_out)
    return table.num_rows, fraction


def _codes(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A string column's codes per row and its distinct strings."""
    array = table[column].combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    return array.indices.to_numpy(), array.dictionary.to_numpy(zero_copy_only=False)


def _ranks(table: pa.Table, column: str) -> tuple[np.ndarray, int]:
    """Each row's rank among the column's distinct strings in sorted order, and their number."""
    codes, strings = _codes(table, column)
    rank = np.empty(len(strings), dtype=np.int64)
    rank[np.argsort(strings)] = np.arange(len(strings))
    return rank[codes], len(strings)


def measurements(forced_paths: list[Path]) -> pa.Table:
    """All forced measurements, sorted by source and time; unique per (obs, name)."""
    table = _read(forced_paths, forced.COLUMNS)
    if not table.num_rows:
        return table
    name, _ = _ranks(table, "name")
    obs, n_obs = _ranks(table, "obs")
    order = np.lexsort((obs, table["mjd"].to_numpy(), name))
    key = name[order] * n_obs + obs[order]
    repeated = np.flatnonzero(key[1:] == key[:-1])
    if len(repeated):
        pairs = table.take(order[repeated[:5]]).select(["obs", "name"]).to_pandas().astype(str)
        raise ValueError(f"photometry tables repeat (group, source) rows, e.g. {list(pairs.itertuples(index=False))}")
    return table.take(order)


def first_rows(names: np.ndarray) -> np.ndarray:
    """The first row of each source in sorted ``names`` (strings or codes)."""
    return np.r_[0, np.flatnonzero(names[1:] != names[:-1]) + 1]


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy()


def positions(curve: np.ndarray, table: pa.Table, n_curves: int) -> tuple[np.ndarray, np.ndarray]:
    """Each source's (RA, Dec): the SNR^2-weighted mean of the positions its images detected it
    at (`forced.at_detections`; RA averaged as an offset from the first detection's, which
    holds across RA 0 and at high declination), the first measurement's (the catalogue's)
    where none did."""
    first = first_rows(curve)
    ra, dec = _column(table, "ra_deg").astype(float), _column(table, "dec_deg").astype(float)
    out_ra, out_dec = ra[first].copy(), dec[first].copy()
    codes, strings = _codes(table, "position_from")
    seen = np.flatnonzero(np.isin(codes, np.flatnonzero(strings == "detection")))
    if not len(seen):
        return out_ra, out_dec
    c, w = curve[seen], _column(table, "snr")[seen].astype(float) ** 2
    detected = np.flatnonzero(np.bincount(c, minlength=n_curves))
    ra0 = np.zeros(n_curves)
    firsts = first_rows(c)
    ra0[c[firsts]] = ra[seen][firsts]
    d_ra = (ra[seen] - ra0[c] + 180) % 360 - 180
    total = np.bincount(c, w, n_curves)[detected]
    out_ra[detected] = (ra0[detected] + np.bincount(c, w * d_ra, n_curves)[detected] / total) % 360
    out_dec[detected] = np.bincount(c, w * dec[seen], n_curves)[detected] / total
    return out_ra, out_dec


def sources(table: pa.Table, limits: Variability) -> pd.DataFrame:
    """One row per source of ``table`` (`measurements`; columns ``SOURCE_COLUMNS``): position
    (`positions`), measurements, metrics (`variability.METRICS`, from the measurements
    without `forced.UNRELIABLE` flags), the candidate's reason and the ``variable`` flag."""
    if not table.num_rows:
        return pd.DataFrame(columns=SOURCE_COLUMNS)
    codes, strings = _codes(table, "name")
    starts = first_rows(codes)
    n = len(starts)
    curve = np.repeat(np.arange(n), np.diff(np.r_[starts, len(codes)]))
    catalog, snr = _column(table, "catalog_flux_jy").astype(float), _column(table, "snr").astype(float)
    counted = np.isfinite(catalog)
    ra, dec = positions(curve, table, n)
    good = (_column(table, "flags") & forced.UNRELIABLE) == 0
    metrics = variability.curves(
        curve[good],
        *(_column(table, c)[good] for c in ("flux_jy", "flux_err_jy", "catalog_flux_jy")),
        n,
    )
    rows = pd.DataFrame(
        {
            "name": strings[codes[starts]],
            "ra_deg": ra,
            "dec_deg": dec,
            "n_measurements": np.diff(np.r_[starts, len(codes)]),
            "catalog_flux_jy": np.bincount(curve, np.where(counted, catalog, 0), n) / np.bincount(curve, counted, n),
            "max_snr": np.fmax.reduceat(snr, starts),
            **metrics,
        }
    )
    rows["reason"] = [variability.is_candidate(row, limits) for row in rows.to_dict("records")]
    rows["variable"] = rows["reason"] != ""
    return rows[SOURCE_COLUMNS]


def new_sources(blind_paths: list[Path]) -> pd.DataFrame:
    """The blind detections of every group flagged ``new_source``, sorted by time."""
    table = _read(blind_paths, blind.COLUMNS).to_pandas()
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
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.91)  # (tight_layout: a second drawing)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot(job: tuple[pd.DataFrame, dict, Path]) -> None:
    plot(*job)


def plot_candidates(table: pa.Table, summary_rows: pd.DataFrame, plots: Path, cores: int) -> None:
    """`plot` every variability candidate of ``summary_rows`` into ``plots`` (``cores``
    processes: a year's ~100 candidates of ~1,100 epochs take ~0.15 s each)."""
    plots.mkdir(parents=True, exist_ok=True)
    if not table.num_rows:
        return
    ends = np.cumsum(summary_rows["n_measurements"].to_numpy())  # the rows are the sources' in order
    shown = table.select(["mjd", "flux_jy", "flux_err_jy", "catalog_flux_jy"])
    jobs = []
    for k in np.flatnonzero(summary_rows["variable"]):
        row = summary_rows.iloc[k].to_dict()
        curve = shown.slice(ends[k] - row["n_measurements"], row["n_measurements"]).to_pandas()
        jobs.append((curve, row, plots / plot_name(row["name"])))
    if cores < 2 or len(jobs) < 2:
        for job in jobs:
            _plot(job)
        return
    # forked workers: they draw from the curves they are sent and touch nothing of the parent's
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_plot, jobs))


def build(
    forced_paths: list[Path], blind_paths: list[Path], out_dir: Path, limits: Variability, cores: int = 1
) -> dict:
    """Write measurements.parquet, sources.parquet, new_sources.parquet and plots/ (one PNG
    per variability candidate) into ``out_dir``; return a summary."""
    table = measurements(forced_paths)
    summary_rows = sources(table, limits)
    found = new_sources(blind_paths)
    plot_candidates(table, summary_rows, out_dir / "plots", cores)
    _write(table, out_dir / "measurements.parquet")
    summary_rows.to_parquet(out_dir / "sources.parquet", index=False)
    found.to_parquet(out_dir / "new_sources.parquet", index=False)
    return {
        "n_measurements": table.num_rows,
        "n_sources": len(summary_rows),
        "variable": list(summary_rows.loc[summary_rows["variable"], "name"]),
        "n_new_sources": len(found),
    }
