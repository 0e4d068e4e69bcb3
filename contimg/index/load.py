"""Rows of the index from each kind of product, and their removal.

``read`` gets what a product's files say (its record, the headers and tables it needs);
``load`` puts that into the science tables;
``unload`` removes exactly the rows that product put there, so updating a product is
unload + load. Groups and sources are shared: they are created on first mention and kept.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from astropy.io import fits

from .. import tables
from ..paths import SYSTEMATIC_KEY, Area
from .products import Product

PHOTOMETRY_COLUMNS = [
    "mjd",
    "flux_jy",
    "flux_err_jy",
    "catalog_flux_jy",
    "local_rms_jy",
    "snr",
    "pb",
    "flags",
    "cutout",
]
DETECTION_COLUMNS = [
    "mjd",
    "ra_deg",
    "dec_deg",
    "peak_jy_beam",
    "local_rms_jy",
    "significance",
    "pb",
    "flux_jy",
    "forced_flux_jy",
    "forced_flux_err_jy",
    "catalog_name",
    "separation_arcsec",
    "near_edge",
    "near_bright",
    "point_like",
    "new_source",
    "cutout",
]
VARIABILITY_COLUMNS = [
    "n_measurements",
    "n_epochs",
    "max_snr",
    "weighted_mean_jy",
    "eta",
    "v",
    "vs",
    "m",
    "chi2_nu",
    "variable",
    "reason",
]
GROUP_COLUMNS = [
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
    "calibrator",
    "calibrator_flux_jy",
]
RAW_FILE_COLUMNS = [
    "size",
    "readable",
    "reason",
    "jd_first",
    "jd_last",
    "n_times",
    "n_freqs",
    "freq_min_hz",
    "freq_max_hz",
    "pointing_dec_deg",
    "n_ants_data",
]


class Ids:
    """Integer ids of groups and sources, created on first mention."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.groups = dict(conn.execute("SELECT obs, group_id FROM groups"))
        self.sources = dict(conn.execute("SELECT name, source_id FROM sources"))
        self.next_source = 1 + (conn.execute("SELECT max(source_id) FROM sources").fetchone()[0] or 0)

    def group(self, obs: str) -> int:
        """The id of group ``obs``; a group the inventory does not list gets a row saying so."""
        if obs not in self.groups:
            cursor = self.conn.execute(
                "INSERT INTO groups (obs, status, reason, in_inventory) VALUES (?, 'unknown', ?, 0)",
                (obs, "not in the inventory"),
            )
            self.groups[obs] = cursor.lastrowid
        return self.groups[obs]

    def source_ids(self, names, ra_deg, dec_deg, found: list | None = None) -> list[int]:
        """The ids of the named sources, adding the new ones with their positions (``found``:
        the ids already looked up, None where unknown)."""
        found = list(map(self.sources.get, names)) if found is None else found
        missing = [k for k, source_id in enumerate(found) if source_id is None] if None in found else []
        new = []
        for k in missing:
            if names[k] not in self.sources:  # (a name may repeat)
                self.sources[names[k]] = self.next_source
                new.append((self.next_source, names[k], float(ra_deg[k]), float(dec_deg[k])))
                self.next_source += 1
            found[k] = self.sources[names[k]]
        _insert(self.conn, "sources", ["source_id", "name", "ra_deg", "dec_deg"], new)
        return found


def _text(value) -> str | None:
    """A list or dict as JSON text, a scalar as is (NaN as NULL)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _columns(table, names: list[str]) -> list[list]:
    """Columns of a pyarrow table or DataFrame as Python lists (NaN is stored as NULL)."""
    if isinstance(table, pd.DataFrame):
        return [table[n].tolist() for n in names]
    return [table.column(n).to_numpy(zero_copy_only=False).tolist() for n in names]


def _insert(conn: sqlite3.Connection, table: str, columns: list[str], rows) -> None:
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _insert_row(conn: sqlite3.Connection, table: str, **values) -> None:
    """One row, its columns named."""
    _insert(conn, table, list(values), [tuple(values.values())])


AREA = Area()  # product paths relative to the work area


# Reading: a product's files -> plain data (no database; runs in a worker thread)


def _json_or_empty(path: Path) -> dict:
    record = json.loads(path.read_text()) if path.exists() else {}
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds a JSON {type(record).__name__}, not a record")
    return record


def _header_or_empty(path: Path) -> dict:
    return dict(fits.getheader(path)) if path.exists() else {}


LATER_COLUMNS = {"cutout"}  # columns products made by older code lack: NULL in the index


def _parquet_columns(path: Path, names: list[str]) -> dict | None:
    if not path.exists():
        return None
    parquet = pq.ParquetFile(path, pre_buffer=False)
    present = [n for n in names if n not in LATER_COLUMNS or n in parquet.schema_arrow.names]
    table = parquet.read(present, use_threads=False)  # small files: 2x faster
    found = dict(zip(present, _columns(table, present)))
    return {n: found.get(n, [None] * table.num_rows) for n in names}


def _read_inventory(work, product):
    groups = tables.read_groups(work / product.path)
    files_csv = work / AREA.inventory("files.csv")
    files = tables.read_files(files_csv) if files_csv.exists() else None
    return {"groups": groups, "files": files}


READERS = {
    "inventory": _read_inventory,
    "calibration_plan": lambda work, p: {"plan": pd.read_csv(work / p.path, dtype=str, keep_default_na=False)},
    "ms": lambda work, p: {"record": _json_or_empty(work / AREA.ms(p.key, ".flags.json"))},
    "calibration": lambda work, p: {"record": _json_or_empty(work / p.path)},
    "calibrated": lambda work, p: {"record": _json_or_empty(work / p.path)},
    "image": lambda work, p: {"record": _json_or_empty(work / p.path)},
    "mosaic": lambda work, p: {
        "record": _json_or_empty(work / p.path),
        "header": _header_or_empty(work / AREA.mosaic(p.key)),
    },
    "photometry": lambda work, p: {
        "record": _json_or_empty(work / p.path),
        "forced": _parquet_columns(work / AREA.photometry(p.key), ["name", "ra_deg", "dec_deg", *PHOTOMETRY_COLUMNS]),
        "blind": _parquet_columns(work / AREA.photometry(p.key, "-blind.parquet"), DETECTION_COLUMNS),
    },
    "night_measurements": lambda work, p: {"metadata": pq.read_metadata(work / p.path)},
    "lightcurves": lambda work, p: {"sources": pd.read_parquet(work / p.path)},
}


# Writing: the data read -> rows; each returns the software versions the product records


def _inventory(conn, product, ids, data):
    groups = data["groups"].assign(**{c: None for c in GROUP_COLUMNS if c not in data["groups"]})  # older inventories
    conn.execute("UPDATE groups SET in_inventory = 0")
    for row in groups.itertuples(index=False):
        group_id = ids.group(row.obs)
        values = [_text(getattr(row, c)) for c in GROUP_COLUMNS]
        conn.execute(
            f"UPDATE groups SET {', '.join(f'{c} = ?' for c in GROUP_COLUMNS)}, in_inventory = 1 WHERE group_id = ?",
            (*values, group_id),
        )
    if data["files"] is None:
        return None
    subbands = [c for c in groups.columns if c.startswith("sb")]
    owner = {
        name: ids.groups[obs]
        for obs, names in zip(groups["obs"], groups[subbands].values.tolist())
        for cell in names
        for name in str(cell).split(";")
        if name
    }
    files = data["files"].assign(**{c: None for c in RAW_FILE_COLUMNS if c not in data["files"]})
    rows = [
        (row.name, owner.get(row.name), row.subband, *(_text(getattr(row, c)) for c in RAW_FILE_COLUMNS))
        for row in files.itertuples(index=False)
    ]
    _insert(conn, "raw_files", ["name", "group_id", "subband", *RAW_FILE_COLUMNS], rows)
    return None


def _calibration_plan(conn, product, ids, data):
    rows = [(ids.group(r.obs), r.candidates, r.calibrators, r.hours_away, r.reason) for r in data["plan"].itertuples()]
    _insert(conn, "calibration_plan", ["group_id", "candidates", "calibrators", "hours_away", "reason"], rows)
    return None


def _ms(conn, product, ids, data):
    stats = data["record"]
    centre = stats.get("phase_centre_icrs_deg", [None, None])
    _insert_row(
        conn,
        "measurement_sets",
        group_id=ids.group(product.key),
        kind="flagged",
        path=product.path,
        visibilities=stats.get("visibilities"),
        fraction_flagged_cross=stats.get("fraction_flagged_cross"),
        phase_centre_ra_deg=centre[0],
        phase_centre_dec_deg=centre[1],
    )
    return None


def _calibration(conn, product, ids, data):
    qa = data["record"]
    group_id = ids.group(product.key)
    _insert_row(
        conn,
        "calibrations",
        group_id=group_id,
        path=AREA.caltables(product.key),
        calibrator=qa.get("calibrator"),
        verdict=qa.get("verdict", "unknown"),
        reasons=_text(qa.get("reasons", [])),
        refant=_text(qa.get("refant", {}).get("names")),
        apply_order=_text(qa.get("apply_order")),
        parameters=_text(qa.get("parameters")),
        qa_thresholds=_text(qa.get("qa_thresholds")),
    )
    for kind, t in qa.get("tables", {}).items():
        _insert_row(
            conn,
            "caltables",
            group_id=group_id,
            kind=kind,
            path=AREA.caltables(product.key, Path(t.get("table", kind)).name),
            flagged_fraction=t.get("flagged_fraction"),
            snr_median=t.get("snr_median"),
            phase_scatter_deg_median=t.get("phase_scatter_deg_median"),
            amplitude_min=t.get("amplitude_min"),
            amplitude_max=t.get("amplitude_max"),
            n_antennas_with_data=t.get("n_antennas_with_data"),
            verdict=t.get("verdict"),
            reasons=_text(t.get("reasons")),
        )
    return qa.get("software")


def _calibrated(conn, product, ids, data):
    record = data["record"]
    cal = record.get("calibration")
    _insert_row(
        conn,
        "measurement_sets",
        group_id=ids.group(product.key),
        kind="calibrated",
        path=AREA.calibrated(product.key),
        calibration_group_id=ids.group(cal) if cal else None,
        passed_over=_text(record.get("passed_over", [])),
    )
    return record.get("software")


def _image(conn, product, ids, data):
    qa = data["record"]
    cal = qa.get("calibration")
    beam = qa.get("beam_arcsec") or [None, None]
    same = (
        "ra_deg",
        "dec_deg",
        "pixel_arcsec",
        "image_size",
        "rms_jy",
        "thermal_jy",
        "rms_over_thermal",
        "peak_jy_beam",
        "dynamic_range",
        "n_sources",
        "flux_ratio_median",
        "completeness",
    )  # named alike in the QA
    _insert_row(
        conn,
        "images",
        group_id=ids.group(product.key),
        path=AREA.image(product.key),
        mjd=qa.get("mjd"),
        freq_hz=qa.get("frequency_hz"),
        bmaj_arcsec=beam[0],
        bmin_arcsec=beam[1],
        bpa_deg=qa.get("beam_pa_deg"),
        astrometric_offset_arcsec=qa.get("astrometric_offset_arcsec_median"),
        verdict=qa.get("verdict", "unknown"),
        reasons=_text(qa.get("reasons", [])),
        calibration_group_id=ids.group(cal) if cal else None,
        **{key: qa.get(key) for key in same},
    )
    return qa.get("software")


def _mosaic(conn, product, ids, data):
    record, header = data["record"], data["header"]
    degrees = [header.get(k) for k in ("BMAJ", "BMIN")]
    bmaj, bmin = (d * 3600 if d is not None else None for d in degrees)
    _insert_row(
        conn,
        "mosaics",
        name=product.key,
        path=AREA.mosaic(product.key),
        mjd=header.get("MJD-OBS"),
        n_images=len(record.get("included", [])),
        effective_noise_jy=record.get("effective_noise_jy"),
        median_noise_jy=record.get("median_noise_jy"),
        bmaj_arcsec=bmaj,
        bmin_arcsec=bmin,
    )
    rows = [(product.key, ids.group(obs), 1, None) for obs in record.get("included", [])]
    rows += [(product.key, ids.group(e["obs"]), 0, _text(e.get("reasons"))) for e in record.get("excluded", [])]
    _insert(conn, "mosaic_images", ["mosaic", "group_id", "included", "reasons"], rows)
    return None


def _photometry(conn, product, ids, data):
    record, forced, blind = data["record"], data["forced"], data["blind"]
    group_id = ids.group(product.key)
    counts = ("reason", "image_verdict", "n_forced", "n_detections", "n_new_sources", "correlated_noise_factor")
    _insert_row(
        conn,
        "measured_groups",
        group_id=group_id,
        measured=int(bool(record.get("measured"))),
        **{key: record.get(key) for key in counts},
    )
    if forced is not None:
        source_ids = ids.source_ids(forced["name"], forced["ra_deg"], forced["dec_deg"], forced.get("source_id"))
        rows = zip(source_ids, [group_id] * len(source_ids), *(forced[c] for c in PHOTOMETRY_COLUMNS))
        _insert(conn, "photometry", ["source_id", "group_id", *PHOTOMETRY_COLUMNS], rows)
    if blind is not None:
        n = len(blind["mjd"])
        matched = [name or None for name in blind["catalog_name"]]
        columns = [matched if c == "catalog_name" else blind[c] for c in DETECTION_COLUMNS]
        _insert(conn, "detections", ["group_id", "number", *DETECTION_COLUMNS], zip([group_id] * n, range(n), *columns))
    return record.get("versions")


def _night_measurements(conn, product, ids, data):
    metadata = data["metadata"]
    fraction = (metadata.metadata or {}).get(SYSTEMATIC_KEY)  # None: gathered before it was measured
    _insert_row(
        conn,
        "nights",
        night=product.key,
        path=product.path,
        n_measurements=metadata.num_rows,
        flux_systematic_fraction=None if fraction is None else float(fraction),
    )
    return None


def _lightcurves(conn, product, ids, data):
    table = data["sources"]
    source_ids = ids.source_ids(*(table[c].tolist() for c in ("name", "ra_deg", "dec_deg")))
    table = table.assign(reason=table["reason"].replace("", None))
    _insert(
        conn, "variability", ["source_id", *VARIABILITY_COLUMNS], zip(source_ids, *_columns(table, VARIABILITY_COLUMNS))
    )
    return None


WRITERS = {
    "inventory": _inventory,
    "calibration_plan": _calibration_plan,
    "ms": _ms,
    "calibration": _calibration,
    "calibrated": _calibrated,
    "image": _image,
    "mosaic": _mosaic,
    "photometry": _photometry,
    "night_measurements": _night_measurements,
    "lightcurves": _lightcurves,
}

# kind -> statements removing a product's rows (parameter, where there is one: the group id, or
# the mosaic or night name)
REMOVERS = {
    "inventory": ["UPDATE groups SET in_inventory = 0", "DELETE FROM raw_files"],
    "calibration_plan": ["DELETE FROM calibration_plan"],
    "ms": ["DELETE FROM measurement_sets WHERE group_id = ? AND kind = 'flagged'"],
    "calibration": ["DELETE FROM calibrations WHERE group_id = ?"],
    "calibrated": ["DELETE FROM measurement_sets WHERE group_id = ? AND kind = 'calibrated'"],
    "image": ["DELETE FROM images WHERE group_id = ?"],
    "mosaic": ["DELETE FROM mosaics WHERE name = ?"],
    "photometry": [
        "DELETE FROM photometry WHERE group_id = ?",
        "DELETE FROM detections WHERE group_id = ?",
        "DELETE FROM measured_groups WHERE group_id = ?",
    ],
    "night_measurements": ["DELETE FROM nights WHERE night = ?"],
    "lightcurves": ["DELETE FROM variability"],
}


def read(work: Path, product: Product, known_sources: dict | None = None) -> dict:
    """What ``load`` needs from a product's files (thread-safe: touches no database). With
    ``known_sources`` (name -> id, only read here) photometry's source ids are looked up too;
    ``load`` adds the sources not known yet."""
    data = READERS[product.kind](work, product)
    if known_sources is not None and data.get("forced") is not None:
        data["forced"]["source_id"] = list(map(known_sources.get, data["forced"]["name"]))
    return data


def load(conn: sqlite3.Connection, product: Product, ids: Ids, data: dict) -> dict | None:
    """Add the rows of one product from what ``read`` gave; return the software versions its
    record names, if any."""
    return WRITERS[product.kind](conn, product, ids, data)


def unload(conn: sqlite3.Connection, kind: str, key: str, ids: Ids) -> None:
    """Remove the rows one product added (groups and sources stay)."""
    param = key if kind in ("mosaic", "night_measurements") else ids.groups.get(key, key)
    for statement in REMOVERS[kind]:
        conn.execute(statement, (param,) if "?" in statement else ())


def remove_orphans(conn: sqlite3.Connection) -> int:
    """Drop sources no row refers to any more, and groups known only from removed products."""
    removed = conn.execute("""DELETE FROM sources WHERE
        NOT EXISTS (SELECT 1 FROM photometry p WHERE p.source_id = sources.source_id) AND
        NOT EXISTS (SELECT 1 FROM variability v WHERE v.source_id = sources.source_id)""").rowcount
    references = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = groups.group_id)"
        for t, c in (
            ("raw_files", "group_id"),
            ("calibration_plan", "group_id"),
            ("measurement_sets", "group_id"),
            ("measurement_sets", "calibration_group_id"),
            ("calibrations", "group_id"),
            ("images", "group_id"),
            ("images", "calibration_group_id"),
            ("mosaic_images", "group_id"),
            ("photometry", "group_id"),
            ("measured_groups", "group_id"),
            ("detections", "group_id"),
        )
    )
    removed += conn.execute(f"DELETE FROM groups WHERE in_inventory = 0 AND {references}").rowcount
    return removed
