"""The SQLite schema of the products index, its version, and the migrations between versions.

Every product file of a work area belongs to one row of ``products`` (with its sha256 in
``product_files``); the science tables hold what the products say. Times are UTC MJD,
positions ICRS degrees, fluxes Jy, paths relative to the work area. docs/products.md
describes every column and gives example queries.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

SCHEMA_VERSION = 3

# Light curves read photometry by source; a bulk load drops this index and builds it after
PHOTOMETRY_BY_SOURCE = "CREATE INDEX photometry_by_source ON photometry (source_id)"

TABLES = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY,
    started_utc TEXT NOT NULL, finished_utc TEXT NOT NULL, work_area TEXT NOT NULL,
    config_sha256 TEXT, code_version TEXT NOT NULL, software TEXT NOT NULL,
    n_added INTEGER NOT NULL, n_updated INTEGER NOT NULL, n_removed INTEGER NOT NULL);

CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, key TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL, n_files INTEGER NOT NULL, bytes INTEGER NOT NULL,
    software TEXT, run_id INTEGER NOT NULL REFERENCES runs(run_id),
    UNIQUE (kind, key));

CREATE TABLE product_files (
    product_id INTEGER NOT NULL REFERENCES products(product_id) ON DELETE CASCADE,
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (product_id, path)) WITHOUT ROWID;

CREATE TABLE groups (
    group_id INTEGER PRIMARY KEY,
    obs TEXT NOT NULL UNIQUE, status TEXT NOT NULL, reason TEXT NOT NULL, n_files INTEGER,
    mjd_start REAL, mjd_mid REAL, mjd_end REAL, pointing_dec_deg REAL,
    lst_start_h REAL, lst_end_h REAL, n_freqs INTEGER, n_times INTEGER,
    calibrator TEXT, calibrator_flux_jy REAL, in_inventory INTEGER NOT NULL);
CREATE INDEX groups_by_time ON groups (mjd_mid);

CREATE TABLE raw_files (
    name TEXT PRIMARY KEY, group_id INTEGER REFERENCES groups(group_id),
    subband INTEGER, size INTEGER, readable INTEGER, reason TEXT,
    jd_first REAL, jd_last REAL, n_times INTEGER, n_freqs INTEGER,
    freq_min_hz REAL, freq_max_hz REAL, pointing_dec_deg REAL, n_ants_data INTEGER);
CREATE INDEX raw_files_by_group ON raw_files (group_id);

CREATE TABLE measurement_sets (
    group_id INTEGER NOT NULL REFERENCES groups(group_id),
    kind TEXT NOT NULL CHECK (kind IN ('flagged', 'calibrated')),
    path TEXT NOT NULL, visibilities INTEGER, fraction_flagged_cross REAL,
    phase_centre_ra_deg REAL, phase_centre_dec_deg REAL,
    calibration_group_id INTEGER REFERENCES groups(group_id), passed_over TEXT,
    PRIMARY KEY (group_id, kind));

CREATE TABLE calibration_plan (
    group_id INTEGER PRIMARY KEY REFERENCES groups(group_id),
    candidates TEXT NOT NULL, calibrators TEXT NOT NULL, hours_away TEXT NOT NULL, reason TEXT NOT NULL);

CREATE TABLE calibrations (
    group_id INTEGER PRIMARY KEY REFERENCES groups(group_id),
    path TEXT NOT NULL, calibrator TEXT, verdict TEXT NOT NULL, reasons TEXT NOT NULL,
    refant TEXT, apply_order TEXT, parameters TEXT, qa_thresholds TEXT);

CREATE TABLE caltables (
    group_id INTEGER NOT NULL REFERENCES calibrations(group_id) ON DELETE CASCADE,
    kind TEXT NOT NULL, path TEXT NOT NULL, flagged_fraction REAL, snr_median REAL,
    phase_scatter_deg_median REAL, amplitude_min REAL, amplitude_max REAL,
    n_antennas_with_data INTEGER, verdict TEXT, reasons TEXT,
    PRIMARY KEY (group_id, kind));

CREATE TABLE images (
    group_id INTEGER PRIMARY KEY REFERENCES groups(group_id),
    path TEXT NOT NULL, mjd REAL, freq_hz REAL, ra_deg REAL, dec_deg REAL,
    bmaj_arcsec REAL, bmin_arcsec REAL, bpa_deg REAL, pixel_arcsec REAL, image_size INTEGER,
    rms_jy REAL, thermal_jy REAL, rms_over_thermal REAL, peak_jy_beam REAL, dynamic_range REAL,
    n_sources INTEGER, flux_ratio_median REAL, astrometric_offset_arcsec REAL, completeness REAL,
    verdict TEXT NOT NULL, reasons TEXT NOT NULL,
    calibration_group_id INTEGER REFERENCES groups(group_id));
CREATE INDEX images_by_time ON images (mjd);

CREATE TABLE mosaics (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, mjd REAL, n_images INTEGER,
    effective_noise_jy REAL, median_noise_jy REAL, bmaj_arcsec REAL, bmin_arcsec REAL);
CREATE INDEX mosaics_by_time ON mosaics (mjd);

CREATE TABLE mosaic_images (
    mosaic TEXT NOT NULL REFERENCES mosaics(name) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(group_id),
    included INTEGER NOT NULL, reasons TEXT,
    PRIMARY KEY (mosaic, group_id));

CREATE TABLE sources (
    source_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    ra_deg REAL NOT NULL, dec_deg REAL NOT NULL);
CREATE INDEX sources_by_position ON sources (dec_deg, ra_deg);

CREATE TABLE photometry (
    source_id INTEGER NOT NULL REFERENCES sources(source_id),
    group_id INTEGER NOT NULL REFERENCES groups(group_id),
    mjd REAL NOT NULL, flux_jy REAL, flux_err_jy REAL, catalog_flux_jy REAL, local_rms_jy REAL, snr REAL,
    pb REAL, flags INTEGER NOT NULL, cutout INTEGER,
    PRIMARY KEY (group_id, source_id)) WITHOUT ROWID;
{PHOTOMETRY_BY_SOURCE};

CREATE TABLE measured_groups (
    group_id INTEGER PRIMARY KEY REFERENCES groups(group_id),
    measured INTEGER NOT NULL, reason TEXT, image_verdict TEXT,
    n_forced INTEGER, n_detections INTEGER, n_new_sources INTEGER, correlated_noise_factor REAL);

CREATE TABLE detections (
    group_id INTEGER NOT NULL REFERENCES groups(group_id),
    number INTEGER NOT NULL, mjd REAL NOT NULL, ra_deg REAL NOT NULL, dec_deg REAL NOT NULL,
    peak_jy_beam REAL, local_rms_jy REAL, significance REAL, pb REAL, flux_jy REAL,
    forced_flux_jy REAL, forced_flux_err_jy REAL,
    catalog_name TEXT, separation_arcsec REAL,
    near_edge INTEGER, near_bright INTEGER, point_like INTEGER, new_source INTEGER, cutout INTEGER,
    PRIMARY KEY (group_id, number));
CREATE INDEX detections_by_position ON detections (dec_deg, ra_deg);

CREATE TABLE nights (
    night TEXT PRIMARY KEY, path TEXT NOT NULL, n_measurements INTEGER, flux_systematic_fraction REAL);

CREATE TABLE variability (
    source_id INTEGER PRIMARY KEY REFERENCES sources(source_id),
    n_measurements INTEGER, n_epochs INTEGER, max_snr REAL, weighted_mean_jy REAL,
    eta REAL, v REAL, vs REAL, m REAL, chi2_nu REAL, variable INTEGER NOT NULL, reason TEXT);
"""

# Statements that take an index at version N to N + 1, applied in order inside the indexing
# transaction. Append here (never edit an entry) when the schema changes, and bump
# SCHEMA_VERSION; readers then need no special cases.
MIGRATIONS: dict[int, list[str]] = {
    1: [  # the tile of each measurement and new-source candidate on its group's cut-out sheet
        "ALTER TABLE photometry ADD COLUMN cutout INTEGER",
        "ALTER TABLE detections ADD COLUMN cutout INTEGER",
    ],
    2: [  # each night's flux-scale systematic, which its light-curve errors hold
        "CREATE TABLE nights (night TEXT PRIMARY KEY, path TEXT NOT NULL, n_measurements INTEGER, "
        "flux_systematic_fraction REAL)",
    ],
}


@contextmanager
def photometry_index_deferred(conn: sqlite3.Connection):
    """Build photometry's by-source index once after the block instead of row by row in it."""
    conn.execute("DROP INDEX photometry_by_source")
    yield
    conn.execute(PHOTOMETRY_BY_SOURCE)


class SchemaError(RuntimeError):
    """The index file cannot be used by this version of the code."""


def version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the index (0 for an empty file)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def ensure(conn: sqlite3.Connection, path: str) -> int:
    """Create the schema in an empty index or migrate an older one; return the version found.

    Runs inside the caller's transaction, so a failed migration leaves the index as it was.
    """
    found = version(conn)
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"{path} has index schema version {found}, newer than this code's {SCHEMA_VERSION}: update contimg"
        )
    if found == 0:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise SchemaError(f"{path} is an SQLite file but not a products index (no schema version)")
        for statement in TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        for step in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    return found
