"""Read-only queries of the products index: what users ask of a night or a release.

Every function takes a connection from ``connect_read_only`` and returns
``(columns, rows)``. The connection cannot change the database: the file is opened
read-only, the session is ``query_only``, and an authorizer refuses anything but reading
(so raw SQL typed by a user is safe to run).
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from . import schema

MJD_EPOCH = datetime(1858, 11, 17, tzinfo=timezone.utc)
MAX_RADIUS_ARCSEC = 3600.0
READING = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


class QueryError(ValueError):
    """A query that cannot be answered, phrased for the user."""


def _only_reading(action, *_):
    return sqlite3.SQLITE_OK if action in READING else sqlite3.SQLITE_DENY


BUSY_TIMEOUT_S = 30.0  # how long a query waits for a lock the indexer (or anything else) holds


def connect_read_only(db: Path) -> sqlite3.Connection:
    """A connection to the index at ``db`` that can only read."""
    db = Path(db)
    if not db.is_file():
        raise QueryError(f"no products index at {db} (build it with scripts/index_products.py or the workflow)")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        conn.execute("PRAGMA query_only = ON")
        found = schema.version(conn)
    except sqlite3.OperationalError as err:
        if "locked" not in str(err):
            raise QueryError(f"{db} is not a readable SQLite products index: {err}") from err
        raise QueryError(f"{db} is locked by another program (waited {BUSY_TIMEOUT_S:g} s): try again") from err
    except sqlite3.DatabaseError as err:
        raise QueryError(f"{db} is not a readable SQLite products index: {err}") from err
    if found != schema.SCHEMA_VERSION:
        raise QueryError(
            f"{db} has index schema version {found}, this code reads version {schema.SCHEMA_VERSION}: "
            "re-run the indexer (it migrates) or use the matching contimg"
        )
    conn.set_authorizer(_only_reading)
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params=()) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(sql, params)
    return [d[0] for d in cursor.description or []], cursor.fetchall()


def to_mjd(text: str) -> float:
    """An MJD from a number or an ISO 8601 UTC date/time (e.g. 2026-03-21T05:00, 20260321T050000)."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(f"'{text}' is neither an MJD nor an ISO date/time such as 2026-03-21T05:00") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - MJD_EPOCH).total_seconds() / 86400.0
    if not math.isfinite(value):
        raise QueryError(f"time {text} is not a finite MJD")
    return value


def check_position(ra_deg: float, dec_deg: float, radius_arcsec: float) -> None:
    """Reject positions and radii outside the sky (NaN, infinite, |dec| > 90, huge radii)."""
    if not all(math.isfinite(v) for v in (ra_deg, dec_deg, radius_arcsec)):
        raise QueryError("RA, Dec and radius must be finite numbers")
    if not (0.0 <= ra_deg < 360.0 and -90.0 <= dec_deg <= 90.0):
        raise QueryError(f"position RA {ra_deg} Dec {dec_deg} is outside 0 <= RA < 360, -90 <= Dec <= 90 (degrees)")
    if not 0.0 < radius_arcsec <= MAX_RADIUS_ARCSEC:
        raise QueryError(f"radius {radius_arcsec} arcsec is outside (0, {MAX_RADIUS_ARCSEC:g}]")


def parse_position(ra: str, dec: str) -> tuple[float, float]:
    """(RA, Dec) in degrees from degrees ('139.55', '54.52'), sexagesimal ('09:18:12', '+54:31:12';
    RA in hours) or with units ('9h18m12s', '54d31m12s', '139.55deg')."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    def plain(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    try:
        if plain(ra) and plain(dec):
            where = SkyCoord(float(ra), float(dec), unit="deg")
        else:
            where = SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
    except (ValueError, u.UnitsError) as err:
        raise QueryError(f"'{ra} {dec}' is not a position (degrees, or e.g. 09:18:12 +54:31:12): {err}") from None
    ra_deg, dec_deg = float(where.ra.deg), float(where.dec.deg)
    check_position(ra_deg, dec_deg, 1.0)
    return ra_deg, dec_deg


def parse_radius(text: str) -> float:
    """A radius in arcsec from a number (arcsec) or any angle astropy reads ('30arcsec', '0.5deg', '2 arcmin')."""
    from astropy import units as u

    try:
        angle = u.Quantity(text)
        value = float(angle.value) if angle.unit == u.dimensionless_unscaled else float(angle.to_value(u.arcsec))
    except (ValueError, TypeError, u.UnitsError):
        raise QueryError(f"'{text}' is not an angle (e.g. 30, 30arcsec, 0.5deg)") from None
    check_position(0.0, 0.0, value)
    return value


def separation_arcsec(ra1, dec1, ra2, dec2) -> float:
    """Angular distance between two positions (degrees in, arcsec out; haversine)."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h)))) * 3600.0


def cone(conn: sqlite3.Connection, ra_deg: float, dec_deg: float, radius_arcsec: float) -> list[tuple[int, float]]:
    """[(source_id, separation_arcsec)] of the sources within the radius, nearest first.

    Uses the (dec, ra) index: a declination band, then the circle's RA extent
    asin(sin r / cos dec) (the whole circle when it holds a pole, split in two across RA 0),
    then the exact distance.
    """
    check_position(ra_deg, dec_deg, radius_arcsec)
    r = radius_arcsec / 3600.0
    lo, hi = max(-90.0, dec_deg - r), min(90.0, dec_deg + r)
    sql = "SELECT source_id, ra_deg, dec_deg FROM sources WHERE dec_deg BETWEEN ? AND ?"
    params: list[float] = [lo, hi]
    extent = math.sin(math.radians(r)) / max(math.cos(math.radians(dec_deg)), 1e-12)
    if extent < 1.0:
        half = math.degrees(math.asin(extent))
        ra_lo, ra_hi = ra_deg - half, ra_deg + half
        if ra_lo < 0 or ra_hi >= 360:
            sql += " AND (ra_deg >= ? OR ra_deg <= ?)"
            params += [ra_lo % 360.0, ra_hi % 360.0]
        else:
            sql += " AND ra_deg BETWEEN ? AND ?"
            params += [ra_lo, ra_hi]
    found = [(sid, separation_arcsec(ra_deg, dec_deg, ra, dec)) for sid, ra, dec in conn.execute(sql, params)]
    return sorted((f for f in found if f[1] <= radius_arcsec), key=lambda f: f[1])


# A measurement's flux error with the flux-scale systematic its night measured added in
# quadrature, as the light curves have it (photometry.flux_err_jy is the image's noise alone,
# as in the group's table; NULL until the night's measurements are gathered), and the join
# that finds the night: the UTC date of the group's mid-time (naming.night_names).
NIGHT_ERROR = "sqrt(p.flux_err_jy * p.flux_err_jy + power(n.flux_systematic_fraction * p.flux_jy, 2))"
NIGHT_JOIN = "LEFT JOIN nights n ON n.night = strftime('%Y%m%d', g.mjd_mid + 2400000.5)"
LIGHTCURVE = f"""SELECT s.name, g.obs, p.mjd, i.freq_hz, p.flux_jy, p.flux_err_jy, {NIGHT_ERROR},
    p.snr, p.catalog_flux_jy, p.flags
    FROM photometry p JOIN sources s USING (source_id) JOIN groups g USING (group_id)
    LEFT JOIN images i USING (group_id) {NIGHT_JOIN} WHERE p.source_id = ? ORDER BY p.mjd"""


def lightcurve(
    conn,
    name: str | None = None,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    radius_arcsec: float = 30.0,
) -> tuple[list[str], list[tuple]]:
    """Every forced measurement of the named source, or of each source within the radius of a
    position (with its distance), in time order."""
    columns = [
        "name",
        "obs",
        "mjd",
        "freq_hz",
        "flux_jy",
        "flux_err_jy",
        "flux_err_night_jy",
        "snr",
        "catalog_flux_jy",
        "flags",
    ]
    if name is not None:
        row = conn.execute("SELECT source_id FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise QueryError(f"no source named '{name}' in the index")
        return columns, conn.execute(LIGHTCURVE, (row[0],)).fetchall()
    rows = []
    for source_id, separation in cone(conn, ra_deg, dec_deg, radius_arcsec):
        rows += [(*row, round(separation, 3)) for row in conn.execute(LIGHTCURVE, (source_id,))]
    return columns + ["separation_arcsec"], rows


SOURCE_COLUMNS = """s.name, s.ra_deg, s.dec_deg, v.n_measurements, v.n_epochs, v.max_snr,
    v.weighted_mean_jy, v.eta, v.v, v.vs, v.m, v.chi2_nu, v.variable, v.reason"""
SOURCE_METRICS = f"SELECT {SOURCE_COLUMNS} FROM sources s JOIN variability v USING (source_id)"


def sources(
    conn,
    eta_min: float | None = None,
    v_min: float | None = None,
    vs_min: float | None = None,
    m_min: float | None = None,
    variable_only: bool = False,
):
    """Every source with its variability metrics (docs/products.md: eta, V, and the two-epoch
    Vs and m), most variable (eta) first; at least each minimum given (|Vs| and |m| for those)."""
    clauses, params = [], []
    for clause, value in (
        ("v.eta >= ?", eta_min),
        ("v.v >= ?", v_min),
        ("abs(v.vs) >= ?", vs_min),
        ("abs(v.m) >= ?", m_min),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if variable_only:
        clauses.append("v.variable")
    where = " AND ".join(clauses) or "1"
    return _rows(conn, f"{SOURCE_METRICS} WHERE {where} ORDER BY v.eta IS NULL, v.eta DESC, s.name", params)


def near(conn, ra_deg: float, dec_deg: float, radius_arcsec: float):
    """The sources within the radius of a position, nearest first, with their distance and
    variability metrics."""
    found = dict(cone(conn, ra_deg, dec_deg, radius_arcsec))  # {source_id: separation}
    cursor = conn.execute(
        f"""SELECT s.source_id, {SOURCE_COLUMNS} FROM sources s JOIN variability v USING (source_id)
        WHERE s.source_id IN ({", ".join("?" * len(found))})""",
        list(found),
    )
    columns = [d[0] for d in cursor.description][1:]
    metrics = {row[0]: row[1:] for row in cursor}
    nearest_first = sorted(metrics, key=found.get)
    return columns + ["separation_arcsec"], [(*metrics[k], round(found[k], 3)) for k in nearest_first]


def new_sources(conn):
    """The new-source candidates of every image (blind detections with no catalogue source),
    in time order."""
    return _rows(
        conn,
        """SELECT g.obs, d.mjd, d.ra_deg, d.dec_deg, d.significance, d.peak_jy_beam, d.pb, d.flux_jy,
        d.forced_flux_jy, d.forced_flux_err_jy FROM detections d JOIN groups g USING (group_id)
        WHERE d.new_source ORDER BY d.mjd, d.ra_deg""",
    )


def _time_filter(column: str, start: str | None, end: str | None) -> tuple[str, list[float]]:
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(to_mjd(start))
    if end is not None:
        clauses.append(f"{column} <= ?")
        params.append(to_mjd(end))
    return " AND ".join(clauses) or "1", params


def images(conn, start: str | None = None, end: str | None = None, verdict: str | None = None):
    """Images with mid-time in [start, end] (and the given QA verdict), in time order."""
    where, params = _time_filter("i.mjd", start, end)
    if verdict is not None:
        where += " AND i.verdict = ?"
        params.append(verdict)
    return _rows(
        conn,
        f"""SELECT g.obs, i.mjd, i.verdict, i.rms_jy, i.rms_over_thermal, i.flux_ratio_median,
        i.astrometric_offset_arcsec, i.n_sources, c.obs AS calibration, i.reasons, i.path
        FROM images i JOIN groups g USING (group_id) LEFT JOIN groups c ON c.group_id = i.calibration_group_id
        WHERE {where} ORDER BY i.mjd""",
        params,
    )


GROUP_STATE = """SELECT g.obs, g.mjd_mid, g.status, g.reason, g.calibrator,
    ms.path IS NOT NULL AS converted, cal.obs AS calibration, i.verdict AS image_verdict,
    mg.measured AS photometry_measured
    FROM groups g
    LEFT JOIN measurement_sets ms ON ms.group_id = g.group_id AND ms.kind = 'flagged'
    LEFT JOIN measurement_sets cm ON cm.group_id = g.group_id AND cm.kind = 'calibrated'
    LEFT JOIN groups cal ON cal.group_id = cm.calibration_group_id
    LEFT JOIN images i ON i.group_id = g.group_id
    LEFT JOIN measured_groups mg ON mg.group_id = g.group_id"""


def groups(conn, start: str | None = None, end: str | None = None, status: str | None = None):
    """Groups with mid-time in [start, end] (and the inventory status), with how far each got."""
    where, params = _time_filter("g.mjd_mid", start, end)
    if status is not None:
        where += " AND g.status = ?"
        params.append(status)
    return _rows(conn, f"{GROUP_STATE} WHERE {where} ORDER BY g.mjd_mid, g.obs", params)


def calibration(conn, obs: str):
    """The calibration group ``obs`` was calibrated with, the calibration's verdict and each
    table's quality; for a calibrator group, also the groups it served (column ``served``)."""
    group = conn.execute("SELECT group_id FROM groups WHERE obs = ?", (obs,)).fetchone()
    if group is None:
        raise QueryError(f"no group '{obs}' in the index")
    return _rows(
        conn,
        """SELECT g.obs, c.obs AS calibration, k.calibrator, k.verdict, k.reasons,
        t.kind AS caltable, t.verdict AS caltable_verdict, t.snr_median, t.flagged_fraction,
        t.phase_scatter_deg_median, m.passed_over,
        (SELECT count(*) FROM measurement_sets s WHERE s.kind = 'calibrated'
            AND s.calibration_group_id = g.group_id) AS served
        FROM groups g
        LEFT JOIN measurement_sets m ON m.group_id = g.group_id AND m.kind = 'calibrated'
        LEFT JOIN groups c ON c.group_id = coalesce(m.calibration_group_id,
            (SELECT group_id FROM calibrations WHERE group_id = g.group_id))
        LEFT JOIN calibrations k ON k.group_id = c.group_id
        LEFT JOIN caltables t ON t.group_id = c.group_id
        WHERE g.group_id = ? ORDER BY t.kind""",
        (group[0],),
    )


PROBLEMS = """
SELECT obs, 'inventory', status || ': ' || reason FROM groups WHERE in_inventory AND status != 'complete'
UNION ALL SELECT g.obs, 'calibration', 'no calibration: ' || p.reason
    FROM calibration_plan p JOIN groups g USING (group_id) WHERE p.reason != ''
UNION ALL SELECT g.obs, 'calibration', 'calibration failed its gate: ' || c.reasons
    FROM calibrations c JOIN groups g USING (group_id) WHERE c.verdict != 'good'
UNION ALL SELECT obs, 'convert', 'no measurement set' FROM groups g WHERE status = 'complete'
    AND NOT EXISTS (SELECT 1 FROM measurement_sets m WHERE m.group_id = g.group_id)
UNION ALL SELECT g.obs, 'apply_calibration', 'no calibrated measurement set' FROM groups g
    JOIN calibration_plan p USING (group_id) WHERE p.reason = ''
    AND NOT EXISTS (SELECT 1 FROM measurement_sets m WHERE m.group_id = g.group_id AND m.kind = 'calibrated')
UNION ALL SELECT g.obs, 'image', 'not imaged' FROM groups g JOIN measurement_sets m USING (group_id)
    WHERE m.kind = 'calibrated' AND NOT EXISTS (SELECT 1 FROM images i WHERE i.group_id = g.group_id)
UNION ALL SELECT g.obs, 'image', 'image failed QA: ' || i.reasons FROM images i JOIN groups g USING (group_id)
    WHERE i.verdict != 'pass'
UNION ALL SELECT g.obs, 'photometry', 'no photometry' FROM groups g JOIN images i USING (group_id)
    WHERE NOT EXISTS (SELECT 1 FROM measured_groups m WHERE m.group_id = g.group_id)
UNION ALL SELECT g.obs, 'photometry', 'not measured: ' || coalesce(m.reason, '') FROM measured_groups m
    JOIN groups g USING (group_id) WHERE NOT m.measured AND coalesce(m.image_verdict, '') = 'pass'
ORDER BY 1, 2"""


def problems(conn):
    """Every group whose products are missing or failed, with the stage and the reason."""
    columns, rows = _rows(conn, PROBLEMS)
    return ["obs", "stage", "problem"], rows


def sql(conn, statement: str):
    """One read-only SQL statement typed by the user."""
    try:
        return _rows(conn, statement)
    except sqlite3.DatabaseError as err:
        if "not authorized" in str(err) or "readonly" in str(err):
            raise QueryError(f"SQL refused: the query command only reads ({err})") from err
        raise QueryError(f"SQL error: {err}") from err
