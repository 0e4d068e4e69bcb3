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

from . import geometry, layout, naming, uvh5
from .sky import Catalog

FILE_COLUMNS = [
    "name",
    "size",
    "mtime_ns",
    "stamp",
    "subband",
    "readable",
    "reason",
    "jd_first",
    "jd_last",
    "n_times",
    "n_freqs",
    "freq_min_hz",
    "freq_max_hz",
    "integration_s",
    "pointing_dec_deg",
    "n_ants_data",
    "stations",
]

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
            if not uvh5.data_shape(handle["Data/visdata"].shape, *expected):
                return {**row, "reason": f"Data/visdata shape {handle['Data/visdata'].shape} != header {expected}"}
            try:
                uvh5.parallel_hands(header["polarization_array"][()])
                stations = compact_stations(uvh5.data_stations(header))
            except uvh5.HeaderError as err:
                return {**row, "reason": str(err)}
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
                stations=stations,
            )
    except (OSError, KeyError, ValueError, TypeError) as err:  # HDF5 itself detects truncation
        return {**row, "reason": f"unreadable: {err}"}
    return {**row, "readable": True}


def compact_stations(names: list[str]) -> str:
    """Station names carrying data, short: 'DSA-001..DSA-012 DSA-014 DSA-103..DSA-105'."""
    numbers = np.array(sorted(n for n in layout.station_numbers(names) if n > 0), int)
    runs = np.split(numbers, np.flatnonzero(np.diff(numbers) != 1) + 1) if len(numbers) else []
    parts = [
        layout.station_name(r[0]) if len(r) == 1 else f"{layout.station_name(r[0])}..{layout.station_name(r[-1])}"
        for r in runs
    ]
    others = sorted(n.replace(" ", "_") for n, k in zip(names, layout.station_numbers(names)) if k <= 0)
    return " ".join(parts + others)


def _summarise(args: tuple[str, str, int, int]) -> dict:
    directory, name, size, mtime_ns = args
    stamp, subband = naming.parse_raw_filename(name)
    return {
        "name": name,
        "size": size,
        "mtime_ns": mtime_ns,
        "stamp": stamp,
        "subband": subband,
        **read_header(Path(directory) / name),
    }


def scan_files(incoming: Path, cache: pd.DataFrame | None = None, workers: int = 1) -> pd.DataFrame:
    """One row per correlator-named file in ``incoming``; unchanged files come from ``cache``."""
    entries = []
    with os.scandir(incoming) as it:
        for entry in it:
            if naming.parse_raw_filename(entry.name) and entry.is_file():
                st = entry.stat()
                entries.append((entry.name, st.st_size, st.st_mtime_ns))
    known = {}
    if cache is not None and len(cache) and set(FILE_COLUMNS) <= set(cache.columns):
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


def _cluster(seconds: np.ndarray, tolerance_s: float) -> np.ndarray:
    """Group label per (sorted) time: a new group starts beyond ``tolerance_s`` of its first file."""
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
    cols = {c: files[c].to_numpy() for c in FILE_COLUMNS}
    cols["readable"] = cols["readable"].astype(bool)
    cols["reason"] = np.where(pd.isna(files["reason"]), "", files["reason"].astype(str))
    cols["stamp_jd"] = naming.stamp_seconds(files["stamp"]) / 86400 + 2440587.5
    labels = _cluster(cols["stamp_jd"] * 86400, inv_cfg["group_tolerance_s"])
    bounds = np.flatnonzero(np.diff(labels)) + 1
    rows = [
        _group_row({c: v[start:stop] for c, v in cols.items()}, inv_cfg, sb_cols)
        for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(labels)])
    ]
    groups = pd.DataFrame(rows)
    good = groups["mjd_start"].notna()
    if good.any():
        groups.loc[good, "lst_start_h"] = np.rad2deg(geometry.lst(groups.loc[good, "mjd_start"] + 2400000.5, site)) / 15
        groups.loc[good, "lst_end_h"] = np.rad2deg(geometry.lst(groups.loc[good, "mjd_end"] + 2400000.5, site)) / 15
    return groups.reindex(columns=_group_columns(sb_cols))


def _group_columns(sb_cols: list[str]) -> list[str]:
    return [
        "obs",
        "status",
        "reason",
        "n_files",
        "mjd_start",
        "mjd_mid",
        "mjd_end",
        "pointing_dec_deg",
        "lst_start_h",
        "lst_end_h",
        "n_freqs",
        "n_times",
        *sb_cols,
    ]


def _group_row(m: dict, inv_cfg: dict, sb_cols: list[str]) -> dict:
    """Status and summary of one group (``m``: its files' columns); problems name their file."""
    row: dict = {"obs": naming.obs_id(m["stamp"]), "n_files": len(m["name"])}
    row.update({c: "" for c in sb_cols})
    for name, sb in zip(m["name"], m["subband"]):
        if sb < len(sb_cols):
            key = sb_cols[sb]
            row[key] = f"{row[key]};{name}" if row[key] else name
    problems = [("unreadable", f"{name}: {why}") for name, why in zip(m["name"], m["reason"]) if why]
    present, counts = np.unique(m["subband"], return_counts=True)
    problems += [
        ("duplicate_subband", f"subband {sb:02d} appears {n} times") for sb, n in zip(present, counts) if n > 1
    ]
    problems += [
        ("inconsistent", f"subband {sb:02d} is beyond the configured {len(sb_cols)}")
        for sb in present
        if sb >= len(sb_cols)
    ]
    missing = sorted(set(range(len(sb_cols))) - set(present.tolist()))
    if missing:
        problems.append(("incomplete", "missing subband(s) " + ", ".join(f"sb{k:02d}" for k in missing)))
    ok = m["readable"]
    if ok.any():
        r = {c: v[ok] for c, v in m.items()}
        half_int = r["integration_s"].astype(float) / 172800
        row.update(
            mjd_start=float((r["jd_first"] - 2400000.5 - half_int).min()),
            mjd_end=float((r["jd_last"] - 2400000.5 + half_int).max()),
            pointing_dec_deg=float(np.median(r["pointing_dec_deg"])),
            n_freqs=int(r["n_freqs"].sum()),
            n_times=int(np.median(r["n_times"])),
        )
        row["mjd_mid"] = 0.5 * (row["mjd_start"] + row["mjd_end"])
        problems += _consistency(r, row["pointing_dec_deg"], inv_cfg)
    else:
        row.update(mjd_start=np.nan, mjd_mid=np.nan, mjd_end=np.nan, pointing_dec_deg=np.nan)
    order = ["unreadable", "duplicate_subband", "incomplete", "inconsistent"]
    problems.sort(key=lambda p: order.index(p[0]))
    row["status"] = problems[0][0] if problems else COMPLETE
    row["reason"] = "; ".join(text for _, text in problems)
    return row


def _consistency(r: dict, dec: float, inv_cfg: dict) -> list[tuple[str, str]]:
    """Readable files of one group must share pointing, channel count and time grid."""
    problems = []
    for name, d in zip(r["name"], r["pointing_dec_deg"]):
        if abs(d - dec) > inv_cfg["pointing_tolerance_deg"]:
            problems.append(
                ("inconsistent", f"{name}: pointing dec {d:.2f} deg differs from the group's {dec:.2f} deg")
            )
    values, counts = np.unique(r["n_freqs"], return_counts=True)
    n_freqs = values[np.argmax(counts)]
    problems += [
        ("inconsistent", f"{name}: {int(n)} channels where the group has {int(n_freqs)}")
        for name, n in zip(r["name"], r["n_freqs"])
        if n != n_freqs
    ]
    values, counts = np.unique(r["stations"].astype(str), return_counts=True)
    stations = values[np.argmax(counts)]
    problems += [
        ("inconsistent", f"{name}: antennas {s} where the group has {stations}")
        for name, s in zip(r["name"], r["stations"].astype(str))
        if s != stations
    ]
    for name in r["name"][np.abs(r["jd_first"] - r["stamp_jd"]) * 86400 > inv_cfg["group_tolerance_s"]]:
        problems.append(("inconsistent", f"{name}: header start time disagrees with the file name"))
    step = (r["jd_last"] - r["jd_first"]) / np.maximum(r["n_times"] - 1, 1)
    jd0, step0, n0 = np.median(r["jd_first"]), np.median(step), np.median(r["n_times"])
    for name, jd, st, n in zip(r["name"], r["jd_first"], step, r["n_times"]):
        if abs(jd - jd0) * 86400 > 1.0 or abs(st - step0) * 86400 > 0.01 or n != n0:
            problems.append(("inconsistent", f"{name}: time grid differs from the rest of the group"))
    return problems


def find_transits(groups: pd.DataFrame, calibrators: Catalog, inv_cfg: dict, site: EarthLocation) -> pd.DataFrame:
    """Add the brightest calibrator transiting in each group (name, hour angle at mid, offset).

    A calibrator transits a group when its hour angle changes sign between the group's
    start and end, it is brighter than ``calibrator_min_flux_jy`` and its declination is
    within ``calibrator_max_offset_deg`` of the pointing (inside the primary beam).
    """
    out = groups.assign(
        calibrator="",
        calibrator_flux_jy=np.nan,
        calibrator_ha_deg=np.nan,
        calibrator_transit_mjd=np.nan,
        calibrator_offset_deg=np.nan,
    )
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
        hit = (
            (ha_start <= 0)
            & (ha_end > 0)
            & (ha_end - ha_start < np.pi)
            & (offset <= inv_cfg["calibrator_max_offset_deg"])
        )
        if not hit.any():
            continue
        idx = sel.index[hit]
        ha_mid = _wrap(geometry.lst(jd_mid[hit], site) - app_ra[hit])
        frac = -ha_start[hit] / (ha_end[hit] - ha_start[hit])
        out.loc[idx, "calibrator"] = cal.name
        out.loc[idx, "calibrator_flux_jy"] = cal.flux_jy
        out.loc[idx, "calibrator_ha_deg"] = np.rad2deg(ha_mid)
        out.loc[idx, "calibrator_transit_mjd"] = sel.loc[idx, "mjd_start"] + frac * (
            sel.loc[idx, "mjd_end"] - sel.loc[idx, "mjd_start"]
        )
        out.loc[idx, "calibrator_offset_deg"] = offset[hit]
    return out


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi)."""
    return np.mod(np.asarray(angle) + np.pi, 2 * np.pi) - np.pi


def build(
    incoming: Path,
    cache: pd.DataFrame | None,
    inv_cfg: dict,
    n_subbands: int,
    calibrators: Catalog,
    site: EarthLocation,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scan ``incoming`` and return (files table, groups table)."""
    files = scan_files(incoming, cache, inv_cfg["workers"])
    groups = group_files(files, inv_cfg, n_subbands, site)
    return files, find_transits(groups, calibrators, inv_cfg, site)
