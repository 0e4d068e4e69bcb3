"""Queries of the products index on hand-made indexes: the cone search across RA 0 and near
the pole, time parsing, schema versions and migrations, and what the read-only connection refuses."""

import math
import sqlite3

import pytest

from contimg.index import indexer, query, schema


def make_index(path, sources):
    """An index with the given (name, ra, dec) sources and nothing else."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    schema.ensure(conn, str(path))
    conn.executemany("INSERT INTO sources (name, ra_deg, dec_deg) VALUES (?, ?, ?)", sources)
    conn.execute("COMMIT")
    conn.close()
    return path


def names_within(db, ra, dec, radius_arcsec):
    conn = query.connect_read_only(db)
    ids = dict(conn.execute("SELECT source_id, name FROM sources"))
    return [ids[sid] for sid, _ in query.cone(conn, ra, dec, radius_arcsec)]


def test_cone_search_finds_sources_across_ra_zero_and_near_the_pole(tmp_path):
    db = make_index(
        tmp_path / "i.sqlite",
        [
            ("east", 0.005, 10.0),
            ("west", 359.995, 10.0),
            ("far", 0.05, 10.0),  # 18 and 177 arcsec from RA 0
            ("pole_a", 10.0, 89.995),
            ("pole_b", 190.0, 89.995),  # 36 arcsec apart, across the pole
            ("wide_ra", 120.02, 80.0),  # 12.5 arcsec from (120, 80): 72 arcsec in RA x cos(dec)
        ],
    )
    assert sorted(names_within(db, 0.0, 10.0, 30.0)) == ["east", "west"]
    assert sorted(names_within(db, 0.0, 10.0, 200.0)) == ["east", "far", "west"]
    assert sorted(names_within(db, 10.0, 89.995, 40.0)) == ["pole_a", "pole_b"]
    assert names_within(db, 120.0, 80.0, 13.0) == ["wide_ra"]
    assert names_within(db, 120.0, 80.0, 12.0) == []


def test_cone_search_reaches_the_widest_point_of_a_circle_near_the_pole(tmp_path):
    # centre (100, 85), radius 1 deg: the circle is widest in RA (11.55 deg) at dec 85.09,
    # not at its centre's declination; a source just inside that point must be found
    dec0, r = math.radians(85.0), math.radians(1.0)
    dec_t = math.asin(math.sin(dec0) / math.cos(r))
    half = math.degrees(math.asin(math.sin(r) / math.cos(dec0)))
    db = make_index(
        tmp_path / "i.sqlite",
        [("widest", 100.0 + 0.999 * half, math.degrees(dec_t)), ("outside", 100.0 + 1.01 * half, math.degrees(dec_t))],
    )
    assert names_within(db, 100.0, 85.0, 3600.0) == ["widest"]


def test_separation_matches_a_known_distance():
    assert query.separation_arcsec(10.0, 0.0, 10.0, 1.0) == pytest.approx(3600.0, rel=1e-9)
    assert query.separation_arcsec(0.0, 60.0, 1.0, 60.0) == pytest.approx(3600.0 * 0.5, rel=1e-4)


@pytest.mark.parametrize(
    "ra, dec, radius",
    [
        (math.nan, 0, 10),
        (10, math.inf, 10),
        (10, 95, 10),
        (-1, 0, 10),
        (360, 0, 10),
        (10, 0, 0),
        (10, 0, 1e30),
        (10, 0, -5),
    ],
)
def test_positions_off_the_sky_and_huge_radii_are_refused(tmp_path, ra, dec, radius):
    db = make_index(tmp_path / "i.sqlite", [("a", 10.0, 0.0)])
    with pytest.raises(query.QueryError):
        names_within(db, ra, dec, radius)


def test_times_are_mjd_or_iso():
    assert query.to_mjd("61120.25") == 61120.25
    assert query.to_mjd("2026-03-21T06:00") == pytest.approx(61120.25, abs=1e-9)
    assert query.to_mjd("20260321T060000") == pytest.approx(61120.25, abs=1e-9)
    for bad in ("yesterday", "nan", "2026-13-45"):
        with pytest.raises(query.QueryError):
            query.to_mjd(bad)


def test_a_newer_or_foreign_database_is_refused(tmp_path):
    newer = make_index(tmp_path / "newer.sqlite", [])
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(query.QueryError, match="version 99"):
        query.connect_read_only(newer)
    with pytest.raises(schema.SchemaError, match="newer"):
        indexer.index_work_area(tmp_path, newer)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(schema.SchemaError, match="not a products index"):
        indexer.index_work_area(tmp_path, foreign)
    with pytest.raises(query.QueryError, match="no products index"):
        query.connect_read_only(tmp_path / "absent.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database at all, " * 100)
    with pytest.raises(query.QueryError, match="not a readable SQLite"):
        query.connect_read_only(tmp_path / "text.sqlite")


def test_an_older_index_is_migrated_in_place(tmp_path, monkeypatch):
    db = make_index(tmp_path / "old.sqlite", [("kept", 1.0, 2.0)])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, schema.SCHEMA_VERSION - 1, ["ALTER TABLE sources ADD COLUMN note TEXT"])
    indexer.index_work_area(tmp_path / "empty_work", db)
    conn = query.connect_read_only(db)
    assert schema.version(conn) == schema.SCHEMA_VERSION
    assert conn.execute("SELECT name, note FROM sources").fetchall() == [("kept", None)]


def test_a_version_2_index_gains_the_nights_table(tmp_path):
    db = make_index(tmp_path / "v2.sqlite", [("kept", 1.0, 2.0)])
    with sqlite3.connect(db) as conn:  # as version 2 wrote it: no nights
        conn.execute("DROP TABLE nights")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    indexer.index_work_area(tmp_path / "empty_work", db)
    conn = query.connect_read_only(db)
    assert schema.version(conn) == 3
    assert conn.execute("SELECT count(*) FROM nights").fetchone() == (0,)
    assert conn.execute("SELECT name FROM sources").fetchall() == [("kept",)]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM sources",
        "DROP TABLE sources",
        "INSERT INTO meta VALUES ('x', 'y')",
        "SELECT 1; DROP TABLE sources",
        "ATTACH DATABASE 'elsewhere.sqlite' AS other",
        "PRAGMA query_only = OFF",
        "CREATE TEMP TABLE t (x)",
        "UPDATE sources SET name = 'x'",
        "VACUUM",
    ],
)
def test_raw_sql_cannot_change_anything(tmp_path, monkeypatch, statement):
    monkeypatch.chdir(tmp_path)
    db = make_index(tmp_path / "i.sqlite", [("a", 10.0, 0.0)])
    before = db.read_bytes()
    conn = query.connect_read_only(db)
    with pytest.raises(query.QueryError, match="SQL"):
        query.sql(conn, statement)
    conn.close()
    assert db.read_bytes() == before
    assert not (tmp_path / "elsewhere.sqlite").exists()
    columns, rows = query.sql(query.connect_read_only(db), "SELECT name FROM sources WHERE name = 'a'")
    assert rows == [("a",)]
