"""The inventory: which groups of subband files exist, whether they are usable, and what transits.

Only file headers are read (h5py, a few small datasets per file), never visibilities.
A re-scan reuses the header summary of every file whose size and modification time
are unchanged, so adding a night to a directory of a year costs only the new files.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from astropy.coordinates import EarthLocation

from . import geometry, naming
from .sky import Catalog

FILE_COLUMNS = [
    "name", "size", "mtime_ns", "stamp", "subband", "readable", "reason",
    "jd_first", "jd_last", "n_times", "n_freqs", "freq_min_hz", "freq_max_hz",
    "integration_s", "pointing_dec_deg", "n_ants_data",
]  # fmt: skip

COMPLETE = "complete"


def read_header(path: Path) -> dict:
    """Summary of one file's UVH5 header; ``readable`` False with a ``reason`` otherwise."""
    row = {"readable": False, "reason": ""}
    try:
        if path.stat().st_size == 0:
            return {**row, "reason": "empty file (0 bytes)"}
        with h5py.File(path, "r") as handle:
            header = handle.get("Header")
            if header is None or "time_array" not in header or "freq_array" not in header:
                return {**row, "reason": "HDF5 but not UVH5 (no Header/time_array or Header/freq_array)"}
            if "Data/visdata" not in handle:
                return {**row, "reason": "UVH5 header without Data/visdata"}
            times = header["time_array"]
            freqs = header["freq_array"][()].ravel()
            extra = header.get("extra_keywords")
            if extra is None or "phase_center_dec" not in extra:
                return {**row, "reason": "no extra_keywords/phase_center_dec in the header"}
            expected = (int(header["Nblts"][()]), int(header["Nfreqs"][()]), int(header["Npols"][()]))
            if handle["Data/visdata"].shape != expected:
                return {**row, "reason": f"Data/visdata shape {handle['Data/visdata'].shape} != header {expected}"}
            row.update(
                jd_first=float(times[0]),
                jd_last=float(times[-1]),
                n_times=int(header["Ntimes"][()]),
                n_freqs=int(header["Nfreqs"][()]),
                freq_min_hz=float(freqs.min()),
                freq_max_hz=float(freqs.max()),
                integration_s=float(header["integration_time"][0]),
                pointing_dec_deg=float(np.rad2deg(extra["phase_center_dec"][()])),
                n_ants_data=int(header["Nants_data"][()]),
            )
    except (OSError, KeyError, ValueError, TypeError) as err:  # HDF5 itself detects truncation
        return {**row, "reason": f"unreadable: {err}"}
    return {**row, "readable": True}


def _summarise(args: tuple[str, str, int, int]) -> dict:
    directory, name, size, mtime_ns = args
    stamp, subband = naming.parse_raw_filename(name)
    return {"name": name, "size": size, "mtime_ns": mtime_ns, "stamp": stamp, "subband": subband,
            **read_header(Path(directory) / name)}  # fmt: skip


def scan_files(incoming: Path, cache: pd.DataFrame | None = None, workers: int = 1) -> pd.DataFrame:
    """One row per correlator-named file in ``incoming``; unchanged files come from ``cache``."""
    entries = []
    with os.scandir(incoming) as it:
        for entry in it:
            if naming.parse_raw_filename(entry.name) and entry.is_file():
                st = entry.stat()
                entries.append((entry.name, st.st_size, st.st_mtime_ns))
    known = {}
    if cache is not None and len(cache):
        known = {(r.name, r.size, r.mtime_ns): r._asdict() for r in cache[FILE_COLUMNS].itertuples(index=False)}
    rows, todo = [], []
    for name, size, mtime_ns in entries:
        hit = known.get((name, size, mtime_ns))
        (rows.append(hit) if hit else todo.append((str(incoming), name, size, mtime_ns)))
    if workers > 1 and len(todo) > 64:
        with ProcessPoolExecutor(workers) as pool:
            rows.extend(pool.map(_summarise, todo, chunksize=256))
    else:
        rows.extend(map(_summarise, todo))
    table = pd.DataFrame(rows, columns=FILE_COLUMNS)
    return table.sort_values(["stamp", "subband", "name"]).reset_index(drop=True)


def _cluster(stamps: pd.Series, tolerance_s: float) -> np.ndarray:
    """Group label per (sorted) timestamp: a new group starts beyond ``tolerance_s`` of the first."""
    seconds = pd.to_datetime(stamps).astype("int64").to_numpy() / 1e9
    labels = np.empty(len(seconds), int)
    label, first = -1, -np.inf
    for i, t in enumerate(seconds):
        if t - first > tolerance_s:
            label, first = label + 1, t
        labels[i] = label
    return labels


def group_files(files: pd.DataFrame, inv_cfg: dict, n_subbands: int, site: EarthLocation) -> pd.DataFrame:
    """One row per group with its status, times, pointing, LST range and files by subband."""
    sb_cols = [f"sb{k:02d}" for k in range(n_subbands)]
    if files.empty:
        return pd.DataFrame(columns=_group_columns(sb_cols))
    files = files.assign(group=_cluster(files["stamp"], inv_cfg["group_tolerance_s"]))
    rows = [_group_row(members, inv_cfg, sb_cols) for _, members in files.groupby("group", sort=True)]
    groups = pd.DataFrame(rows)
    good = groups["mjd_start"].notna()
    if good.any():
        lst_start = geometry.lst(groups.loc[good, "mjd_start"] + 2400000.5, site)
        lst_end = geometry.lst(groups.loc[good, "mjd_end"] + 2400000.5, site)
        groups.loc[good, "lst_start_h"] = np.rad2deg(lst_start) / 15
        groups.loc[good, "lst_end_h"] = np.rad2deg(lst_end) / 15
    return groups.reindex(columns=_group_columns(sb_cols))


def _group_columns(sb_cols: list[str]) -> list[str]:
    return ["obs", "status", "reason", "n_files", "mjd_start", "mjd_mid", "mjd_end", "pointing_dec_deg",
            "lst_start_h", "lst_end_h", "n_freqs", "n_times", *sb_cols]  # fmt: skip


def _group_row(members: pd.DataFrame, inv_cfg: dict, sb_cols: list[str]) -> dict:
    """Status and summary of one group; problems are named with the file that has them."""
    row: dict = {"obs": naming.obs_id(members["stamp"]), "n_files": len(members)}
    row.update({c: "" for c in sb_cols})
    for name, sb in zip(members["name"], members["subband"]):
        if sb < len(sb_cols):
            key = sb_cols[sb]
            row[key] = f"{row[key]};{name}" if row[key] else name
    readable = members[members["readable"].astype(bool)]
    problems = []
    for name, reason in zip(members["name"], members["reason"]):
        if isinstance(reason, str) and reason:
            problems.append(("unreadable", f"{name}: {reason}"))
    counts = members["subband"].value_counts()
    for sb in sorted(counts.index[counts > 1]):
        problems.append(("duplicate_subband", f"subband {sb:02d} appears {counts[sb]} times"))
    outside = sorted(set(members["subband"]) - set(range(len(sb_cols))))
    for sb in outside:
        problems.append(("inconsistent", f"subband {sb:02d} is beyond the configured {len(sb_cols)}"))
    missing = [k for k in range(len(sb_cols)) if k not in counts.index]
    if missing:
        problems.append(("incomplete", "missing subband(s) " + ", ".join(f"sb{k:02d}" for k in missing)))
    if not readable.empty:
        dec = float(readable["pointing_dec_deg"].median())
        step = (readable["jd_last"] - readable["jd_first"]) / np.maximum(readable["n_times"] - 1, 1)
        row.update(
            mjd_start=float((readable["jd_first"] - 2400000.5 - readable["integration_s"] / 172800).min()),
            mjd_end=float((readable["jd_last"] - 2400000.5 + readable["integration_s"] / 172800).max()),
            pointing_dec_deg=dec,
            n_freqs=int(readable["n_freqs"].sum()),
            n_times=int(readable["n_times"].median()),
        )
        row["mjd_mid"] = 0.5 * (row["mjd_start"] + row["mjd_end"])
        problems += _consistency(readable, dec, step, inv_cfg)
    else:
        row.update(mjd_start=np.nan, mjd_mid=np.nan, mjd_end=np.nan, pointing_dec_deg=np.nan)
    order = ["unreadable", "duplicate_subband", "incomplete", "inconsistent"]
    problems.sort(key=lambda p: order.index(p[0]))
    row["status"] = problems[0][0] if problems else COMPLETE
    row["reason"] = "; ".join(text for _, text in problems)
    return row


def _consistency(readable: pd.DataFrame, dec: float, step: pd.Series, inv_cfg: dict) -> list[tuple[str, str]]:
    """Files of one group must share pointing, channel count and time grid."""
    problems = []
    off = (readable["pointing_dec_deg"] - dec).abs() > inv_cfg["pointing_tolerance_deg"]
    for name, d in zip(readable.loc[off, "name"], readable.loc[off, "pointing_dec_deg"]):
        problems.append(("inconsistent", f"{name}: pointing dec {d:.2f} deg differs from the group's {dec:.2f} deg"))
    n_freqs = readable["n_freqs"].mode().iloc[0]
    for name, n in zip(readable["name"], readable["n_freqs"]):
        if n != n_freqs:
            problems.append(("inconsistent", f"{name}: {n} channels where the group has {n_freqs}"))
    stamp_jd = pd.to_datetime(readable["stamp"]).astype("int64").to_numpy() / 86400e9 + 2440587.5
    late = np.abs(readable["jd_first"].to_numpy() - stamp_jd) * 86400 > inv_cfg["group_tolerance_s"]
    for name in readable["name"][late]:
        problems.append(("inconsistent", f"{name}: header start time disagrees with the file name"))
    jd0 = readable["jd_first"].median()
    step0 = step.median()
    for name, jd, st, n in zip(readable["name"], readable["jd_first"], step, readable["n_times"]):
        if abs(jd - jd0) * 86400 > 1.0 or abs(st - step0) * 86400 > 0.01 or n != readable["n_times"].median():
            problems.append(("inconsistent", f"{name}: time grid differs from the rest of the group"))
    return problems


def find_transits(groups: pd.DataFrame, calibrators: Catalog, inv_cfg: dict, site: EarthLocation) -> pd.DataFrame:
    """Add the brightest calibrator transiting in each group (name, hour angle at mid, offset).

    A calibrator transits a group when its hour angle changes sign between the group's
    start and end, it is brighter than ``calibrator_min_flux_jy`` and its declination is
    within ``calibrator_max_offset_deg`` of the pointing (inside the primary beam).
    """
    out = groups.assign(calibrator="", calibrator_flux_jy=np.nan, calibrator_ha_deg=np.nan,
                        calibrator_transit_mjd=np.nan, calibrator_offset_deg=np.nan)  # fmt: skip
    usable = out["mjd_start"].notna()
    table = calibrators.table
    bright = table[table["flux_jy"] >= inv_cfg["calibrator_min_flux_jy"]].sort_values("flux_jy", ascending=False)
    for cal in bright.itertuples(index=False):
        near = usable & ((out["pointing_dec_deg"] - cal.dec_deg).abs() <= inv_cfg["calibrator_max_offset_deg"] + 1.0)
        near &= out["calibrator"] == ""
        if not near.any():
            continue
        sel = out[near]
        jd_mid = sel["mjd_mid"].to_numpy() + 2400000.5
        app_ra, app_dec = geometry.apparent_radec(np.deg2rad(cal.ra_deg), np.deg2rad(cal.dec_deg), jd_mid, site)
        offset = np.abs(np.rad2deg(app_dec) - sel["pointing_dec_deg"].to_numpy())
        ha_start = _wrap(geometry.lst(sel["mjd_start"].to_numpy() + 2400000.5, site) - app_ra)
        ha_end = _wrap(geometry.lst(sel["mjd_end"].to_numpy() + 2400000.5, site) - app_ra)
        hit = (ha_start <= 0) & (ha_end > 0) & (ha_end - ha_start < np.pi) & (offset <= inv_cfg["calibrator_max_offset_deg"])
        if not hit.any():
            continue
        idx = sel.index[hit]
        ha_mid = _wrap(geometry.lst(jd_mid[hit], site) - app_ra[hit])
        frac = -ha_start[hit] / (ha_end[hit] - ha_start[hit])
        out.loc[idx, "calibrator"] = cal.name
        out.loc[idx, "calibrator_flux_jy"] = cal.flux_jy
        out.loc[idx, "calibrator_ha_deg"] = np.rad2deg(ha_mid)
        out.loc[idx, "calibrator_transit_mjd"] = sel.loc[idx, "mjd_start"] + frac * (sel.loc[idx, "mjd_end"] - sel.loc[idx, "mjd_start"])
        out.loc[idx, "calibrator_offset_deg"] = offset[hit]
    return out


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi)."""
    return np.mod(np.asarray(angle) + np.pi, 2 * np.pi) - np.pi


def build(incoming: Path, cache: pd.DataFrame | None, inv_cfg: dict, n_subbands: int,
          calibrators: Catalog, site: EarthLocation) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Scan ``incoming`` and return (files table, groups table)."""
    files = scan_files(incoming, cache, inv_cfg["workers"])
    groups = group_files(files, inv_cfg, n_subbands, site)
    return files, find_transits(groups, calibrators, inv_cfg, site)
