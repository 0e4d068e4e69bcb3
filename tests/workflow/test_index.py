"""The products index as users get it: built by the workflow's last rule from the tiny night
and checked against the files; idempotent; updated when products change or vanish; intact
when the indexer is killed; consistent for readers during indexing and with two indexers;
and the query command's answers and refusals."""

import hashlib
import json
import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import DEPLOYED, RELATIVE, ROOT
from contimg.index import cli, query, synthetic
from contimg.paths import PHOTOMETRY
from contimg.photometry import cutouts, lightcurves

INDEXER = [sys.executable, str(ROOT / "scripts/index_products.py"), "--config", str(ROOT / "config/config.yaml")]
QUERY = str(Path(sys.executable).parent / "contimg-query")


def index(work: Path, db: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [*INDEXER, "--work", str(work), "--db", str(db)], stderr=subprocess.PIPE, text=True, **popen
    )


def index_now(work: Path, db: Path) -> str:
    """Run the standalone indexer to the end; return its log."""
    process = index(work, db)
    _, log = process.communicate(timeout=600)
    assert process.returncode == 0, log
    return log


def content(db: Path) -> list[str]:
    """Every row of every table, as SQL text (what 'the index is unchanged' compares)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def table_rows(db: Path, table: str) -> list[tuple]:
    return sorted(plain_query(db, f"SELECT * FROM {table}"))


def plain_query(db: Path, sql: str) -> list[tuple]:
    """A query the read-only command would refuse (PRAGMA), on a plain read-only connection."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def ask(db: Path, *argv: str, fmt: str = "json", capsys=None):
    code = cli.main(["--db", str(db), "--format", fmt, *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if fmt == "json" and code == 0 else out), err


@pytest.fixture
def work_copy(tiny_run, tmp_path):
    """A copy of the tiny run's work area (products and index), free to damage."""
    return Path(shutil.copytree(tiny_run / "work", tmp_path / "work", symlinks=True))


def test_the_workflow_indexes_every_product_with_its_values(tiny_run):
    work = tiny_run / "work"
    db = work / "products.sqlite"
    assert json.loads((work / RELATIVE.index("last_run.json")).read_text())["changed"] is True
    conn = query.connect_read_only(db)
    one = lambda sql, *p: conn.execute(sql, p).fetchone()[0]  # noqa: E731
    groups = pd.read_csv(work / RELATIVE.inventory(), dtype={"obs": str})
    assert one("SELECT count(*) FROM groups") == len(groups)
    assert one("SELECT count(*) FROM raw_files WHERE group_id IS NOT NULL") == 16 * len(groups)
    assert one("SELECT count(*) FROM measurement_sets WHERE kind = 'flagged'") == len(groups)
    for obs in groups["obs"]:
        qa = json.loads((work / RELATIVE.image(obs, "-qa.json")).read_text())
        row = conn.execute(
            "SELECT i.verdict, i.rms_jy, i.bmaj_arcsec, c.obs FROM images i JOIN groups g USING "
            "(group_id) JOIN groups c ON c.group_id = i.calibration_group_id WHERE g.obs = ?",
            (obs,),
        ).fetchone()
        assert row == (qa["verdict"], qa["rms_jy"], qa["beam_arcsec"][0], qa["calibration"])
        applied = json.loads((work / RELATIVE.calibrated(obs, ".cal.json")).read_text())
        columns, rows = query.calibration(conn, obs)
        assert {r[columns.index("calibration")] for r in rows} == {applied["calibration"]}
        assert {r[columns.index("caltable")] for r in rows} == {"bandpass", "gains"}
    measurements = pd.read_parquet(work / RELATIVE.lightcurves("measurements.parquet"))
    assert one("SELECT count(*) FROM photometry") == len(measurements) > 0
    name = measurements["name"].value_counts().index[0]
    columns, rows = query.lightcurve(conn, name=name)
    expected = measurements[measurements["name"] == name].sort_values("mjd")
    assert [r[columns.index("obs")] for r in rows] == list(expected["obs"])
    assert [r[columns.index("flux_jy")] for r in rows] == pytest.approx(list(expected["flux_jy"]), rel=1e-12)
    assert [r[columns.index("flux_err_night_jy")] for r in rows] == pytest.approx(
        list(expected["flux_err_jy"]), rel=1e-9
    )  # the light curves' errors: the night's systematic included, as the night step measured it
    assert one("SELECT count(*) FROM nights") == len(list((work / "lightcurves/nights").glob("????????.parquet")))
    assert one("SELECT count(*) FROM variability") == len(
        pd.read_parquet(work / RELATIVE.lightcurves("sources.parquet"))
    )
    assert one("SELECT count(*) FROM mosaics") == len(list((work / "mosaics").glob("*.json")))
    for path, sha in conn.execute("SELECT path, sha256 FROM product_files"):
        assert hashlib.sha256((work / path).read_bytes()).hexdigest() == sha, path
    assert one("SELECT count(*) FROM product_files WHERE path LIKE 'ms/%.ms/table.f%'") >= len(groups)
    assert one("SELECT count(*) FROM product_files WHERE path LIKE '%/ANTENNA/%' OR path LIKE '%table.lock'") == 0
    run = conn.execute("SELECT config_sha256, code_version, software FROM runs").fetchall()
    assert len(run) == 1 and len(run[0][0]) == 64 and run[0][1].startswith("0.1.0") and "pyarrow" in run[0][2]
    assert plain_query(db, "PRAGMA foreign_key_check") == []
    assert plain_query(db, "PRAGMA journal_mode") == [("wal",)]


def test_a_copied_work_area_reindexes_to_the_same_file(work_copy):
    db = work_copy / "products.sqlite"
    before = db.read_bytes()
    assert "no change" in index_now(work_copy, db)  # relative paths, same sizes and times: nothing to do
    assert "no change" in index_now(work_copy, db)
    assert db.read_bytes() == before


def test_removed_and_changed_products_are_taken_out_and_updated(work_copy, capsys):
    db = work_copy / "products.sqlite"
    groups = pd.read_csv(work_copy / RELATIVE.inventory(), dtype={"obs": str})["obs"].tolist()
    lost, failed = groups[0], groups[1]  # the tiny night's groups 0 and 2 fail their image QA, 1 passes
    code, rows, _ = ask(db, "problems", capsys=capsys)
    problems_before = {(r["obs"], r["stage"]) for r in rows}
    assert (failed, "image") not in problems_before
    for suffix in PHOTOMETRY:
        (work_copy / RELATIVE.photometry(lost, suffix)).unlink()
    qa_path = work_copy / RELATIVE.image(failed, "-qa.json")
    qa = json.loads(qa_path.read_text())
    qa_path.write_text(json.dumps({**qa, "verdict": "fail", "reasons": ["rms 9.9 x thermal > 2.0"]}))
    log = index_now(work_copy, db)
    assert "1 updated, 1 removed" in log
    code, rows, _ = ask(
        db,
        "sql",
        f"SELECT count(*) AS n FROM photometry JOIN groups USING (group_id) WHERE obs = '{lost}'",
        capsys=capsys,
    )
    assert rows == [{"n": 0}]
    code, rows, _ = ask(db, "problems", capsys=capsys)
    assert {(r["obs"], r["stage"]) for r in rows} == problems_before | {(lost, "photometry"), (failed, "image")}
    assert [r["problem"] for r in rows if r["obs"] == failed] == ['image failed QA: ["rms 9.9 x thermal > 2.0"]']
    code, rows, _ = ask(db, "images", "--verdict", "fail", capsys=capsys)
    assert [r["obs"] for r in rows] == sorted(groups)  # all three now
    code, rows, _ = ask(db, "sql", "SELECT n_added, n_updated, n_removed FROM runs ORDER BY run_id", capsys=capsys)
    assert rows[-1] == {"n_added": 0, "n_updated": 1, "n_removed": 1} and len(rows) == 2


def test_a_nights_systematic_reaches_its_light_curve_errors(work_copy):
    """A night table whose errors hold a 5 % flux-scale systematic: the index's light curve
    gives that night's measurements their noise and 5 % of their flux in quadrature."""
    db = work_copy / "products.sqlite"
    night = sorted((work_copy / "lightcurves/nights").glob("????????.parquet"))[0]
    table = pq.read_table(night)
    pq.write_table(table.replace_schema_metadata({lightcurves.SYSTEMATIC_KEY: b"0.05"}), night)
    assert "1 updated" in index_now(work_copy, db)
    assert plain_query(db, "SELECT night, n_measurements, flux_systematic_fraction FROM nights") == [
        (night.stem, table.num_rows, 0.05)
    ]
    measured = table.to_pandas()
    name = measured.loc[measured["snr"].idxmax(), "name"]  # a bright source: 5 % is more than its noise
    columns, rows = query.lightcurve(query.connect_read_only(db), name=name)
    values = pd.DataFrame(rows, columns=columns)
    assert len(values) == (measured["name"] == name).sum() >= 1
    expected = [math.hypot(e, 0.05 * f) for e, f in zip(values["flux_err_jy"], values["flux_jy"])]
    assert values["flux_err_night_jy"].tolist() == pytest.approx(expected, rel=1e-12)
    assert (values["flux_err_night_jy"] > 1.5 * values["flux_err_jy"]).all()


def test_a_damaged_record_is_reported_and_the_rest_indexed(work_copy):
    db = work_copy / "products.sqlite"
    count_by_group = "SELECT g.obs, count(*) FROM photometry JOIN groups g USING (group_id) GROUP BY g.obs"
    before = dict(plain_query(db, count_by_group))
    obs = sorted(before)[0]
    (work_copy / RELATIVE.photometry(obs, ".json")).write_text('{"obs": "truncated')
    (work_copy / RELATIVE.photometry(obs)).write_bytes(b"PAR1 not really")
    log = index_now(work_copy, db)
    assert f"{RELATIVE.photometry(obs, '.json')} not indexed: JSONDecodeError" in log and "1 unreadable" in log
    assert dict(plain_query(db, count_by_group)) == {k: v for k, v in before.items() if k != obs}
    assert plain_query(db, "SELECT count(*) FROM measured_groups") == [
        (len(list(work_copy.glob("photometry/*.json"))) - 1,)
    ]


def synthetic_area(path: Path, n_images: int) -> Path:
    synthetic.write_work_area(path, n_images, rows_per_image=2000, n_sources=20000)
    return path


def touch_all(work: Path) -> None:
    """New modification times for every photometry table: the indexer must reload them all."""
    for path in (work / "photometry").glob("*.parquet"):
        path.touch()


def test_a_killed_indexer_leaves_the_previous_index_intact(tmp_path):
    work, db = synthetic_area(tmp_path / "work", 400), tmp_path / "index.sqlite"
    index_now(work, db)
    before, photometry = content(db), table_rows(db, "photometry")
    touch_all(work)
    process = index(work, db)
    for line in process.stderr:  # kill it while it loads the 800,000 photometry rows again
        if "loading" in line and "photometry" in line:
            time.sleep(0.5)
            break
    assert process.poll() is None, "the indexer finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert content(db) == before
    assert plain_query(db, "PRAGMA integrity_check") == [("ok",)]
    assert "400 updated" in index_now(work, db)
    assert table_rows(db, "photometry") == photometry


def test_readers_see_the_old_or_the_new_index_while_it_is_written(tmp_path):
    work, db = synthetic_area(tmp_path / "work", 300), tmp_path / "index.sqlite"
    for parquet in sorted((work / "photometry").glob("*.parquet"))[100:]:  # index a third of it first
        parquet.rename(parquet.with_suffix(".hidden"))
    index_now(work, db)
    for hidden in (work / "photometry").glob("*.hidden"):
        hidden.rename(hidden.with_suffix(".parquet"))
    conn = query.connect_read_only(db)
    count = lambda: conn.execute("SELECT count(*) FROM photometry").fetchone()[0]  # noqa: E731
    old = count()
    assert old == 100 * 2000
    process = index(work, db)
    seen = []
    while process.poll() is None:
        seen.append(count())
        time.sleep(0.02)
    assert process.wait() == 0, process.stderr.read()
    seen.append(count())
    assert set(seen) == {old, 300 * 2000} and len(seen) > 10  # never a partly written state


def test_two_indexers_at_once_give_one_consistent_index(tmp_path):
    work, db = synthetic_area(tmp_path / "work", 200), tmp_path / "index.sqlite"
    first, second = index(work, db), index(work, db)
    logs = [p.communicate(timeout=600)[1] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], logs
    assert sum("no change" in log for log in logs) == 1  # the second waited for the first, then found it done
    conn = query.connect_read_only(db)
    assert conn.execute("SELECT count(*) FROM photometry").fetchone()[0] == 200 * 2000
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_query_command_answers_in_every_format(tiny_run, capsys):
    db = tiny_run / "work/products.sqlite"
    measurements = pd.read_parquet(tiny_run / DEPLOYED.lightcurves("measurements.parquet"))
    source = measurements.iloc[0]
    code, by_name, _ = ask(db, "lightcurve", "--name", source["name"], capsys=capsys)
    assert code == 0 and len(by_name) == (measurements["name"] == source["name"]).sum()
    code, by_position, _ = ask(
        db,
        "lightcurve",
        "--ra",
        str(source["ra_deg"] + 0.001),
        "--dec",
        str(source["dec_deg"]),
        "--radius",
        "10",
        capsys=capsys,
    )
    assert [r["flux_jy"] for r in by_position] == [r["flux_jy"] for r in by_name]
    offset = 3.6 * math.cos(math.radians(source["dec_deg"]))  # 0.001 deg of RA, in arcsec
    assert [r["separation_arcsec"] for r in by_position] == pytest.approx([offset] * len(by_position), abs=0.01)
    code, csv_text, _ = ask(
        db, "groups", "--start", "2026-03-21T04:00", "--end", "2026-03-22", fmt="csv", capsys=capsys
    )
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("obs,mjd_mid,status") and len(lines) == 1 + 3
    code, table, _ = ask(db, "calibration", lines[1].split(",")[0], fmt="table", capsys=capsys)
    assert code == 0 and "bandpass" in table and "gains" in table
    code, rows, _ = ask(db, "images", "--start", "70000", capsys=capsys)
    assert code == 0 and rows == []
    installed = subprocess.run([QUERY, "--db", str(db), "problems"], capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0 and installed.stdout.startswith("obs"), installed.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["lightcurve", "--name", "x'; DROP TABLE photometry; --"], "no source named"),
        (["lightcurve", "--ra", "10", "--dec", "95"], "outside"),
        (["lightcurve", "--ra", "10", "--dec", "54", "--radius", "1e300"], "radius"),
        (["lightcurve", "--ra", "10"], "--ra needs --dec"),
        (["images", "--start", "'; DELETE FROM images; --"], "neither an MJD"),
        (["calibration", "20260321T050000' OR '1'='1"], "no group"),
        (["sql", "DROP TABLE photometry"], "only reads"),
        (["sql", "SELECT 1; DELETE FROM images"], "one statement"),
        (["sql", "UPDATE images SET verdict = 'pass'"], "only reads"),
        (["sql", "ATTACH DATABASE 'x.sqlite' AS x"], "only reads"),
        (["sql", "SELECT * FROM no_such_table"], "no such table"),
    ],
)
def test_hostile_queries_are_refused_and_change_nothing(work_copy, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(work_copy)
    db = work_copy / "products.sqlite"
    before = content(db)
    code, _, err = ask(db, *argv, capsys=capsys)
    assert code == 1 and message in err
    assert content(db) == before and not (work_copy / "x.sqlite").exists()


def test_nan_coordinates_are_rejected_by_the_command_line(tiny_run, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--db", str(tiny_run / "work/products.sqlite"), "lightcurve", "--ra", "nan", "--dec", "0"])
    assert stop.value.code == 2 and "not a finite number" in capsys.readouterr().err


def read_quietly(path: Path) -> str:
    """A /proc file's text ("" if its process has gone meanwhile)."""
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def variability_index(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A synthetic work area of 6 images of 40 sources, constant (1 mJy noise) but for
    SYN J0000007, twice as bright in the 4th image; its light curves built by the workflow's
    code and indexed. Returns the index and the light curves' sources table."""
    import numpy as np

    from conftest import project_config, typed_settings
    from contimg.photometry import lightcurves

    work = tmp_path / "work"
    synthetic.write_work_area(work, 6, rows_per_image=40, n_sources=40)
    rng = np.random.default_rng(5)
    tables = sorted((work / "photometry").glob("*.parquet"))
    for k, path in enumerate(tables):
        rows = pd.read_parquet(path)
        flux = 0.05 + 0.002 * rows["name"].str[-3:].astype(int) + rng.normal(0, 0.001, len(rows))
        flux = flux.where(~((rows["name"] == "SYN J0000007") & (k == 3)), 2 * flux)
        rows = rows.assign(flux_jy=flux, peak_jy_beam=flux, snr=flux / rows["flux_err_jy"], position_from="catalog")
        rows.to_parquet(path, index=False)
        noise = rng.normal(0, 0.001, (200, 200))  # a cut-out sheet of noise, one tile per row
        x, y = 4.0 * rows["cutout"], np.full(len(rows), 100.0)
        cutouts.write(path.with_name(f"{rows['obs'][0]}-cutouts.png"), noise, np.full(noise.shape, 0.001), x, y)
    settings = typed_settings(project_config(), "photometry.variability")
    out = work / RELATIVE.lightcurves("sources.parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    lightcurves.build(tables, [], out.parent, settings)
    db = tmp_path / "products.sqlite"
    index_now(work, db)
    return db, pd.read_parquet(out)


def test_vast_style_queries_answer_from_the_index(tmp_path, capsys):
    """sources (highest eta first, filtered by each metric), variables and new-sources agree
    with the light-curve products they were indexed from."""
    db, table = variability_index(tmp_path)
    code, listed, _ = ask(db, "sources", capsys=capsys)
    assert code == 0 and len(listed) == len(table) == 40
    assert [r["eta"] for r in listed] == sorted(table["eta"], reverse=True)
    cut = float(table["eta"].median())
    code, strong, _ = ask(db, "sources", "--eta-min", str(cut), "--v-min", "0", capsys=capsys)
    assert {r["name"] for r in strong} == set(table.loc[table["eta"] >= cut, "name"])
    code, big_m, _ = ask(db, "sources", "--m-min", "0.5", capsys=capsys)
    assert {r["name"] for r in big_m} == set(table.loc[table["m"].abs() >= 0.5, "name"]) == {"SYN J0000007"}
    code, variables, _ = ask(db, "variables", capsys=capsys)
    assert [r["name"] for r in variables] == ["SYN J0000007"] == list(table.loc[table["variable"], "name"])
    assert listed[0]["name"] == "SYN J0000007"  # the variable has the highest eta
    code, _, err = ask(db, "new-sources", capsys=capsys)
    assert code == 1 and "no new-source candidate" in err  # no blind tables in this area
    code, _, err = ask(db, "sources", "--eta-min", "1e9", capsys=capsys)
    assert code == 1 and err.count("\n") == 1 and "no source matches" in err


def test_cone_search_by_sexagesimal_position_in_votable_and_fits(tiny_run, capsys, tmp_path):
    """A cone search around the brightest source, given in sexagesimal, finds it first; the
    VOTable and the FITS table read back with astropy; bad requests get one sentence, exit 1
    and no file."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    db = tiny_run / "work/products.sqlite"
    table = pd.read_parquet(tiny_run / DEPLOYED.lightcurves("sources.parquet"))
    source = table.sort_values("max_snr").iloc[-1]
    where = SkyCoord(source["ra_deg"], source["dec_deg"], unit="deg")
    ra, dec = where.to_string("hmsdms", sep=":", precision=3).split()
    code, found, _ = ask(db, "cone", ra, dec, "1arcmin", capsys=capsys)
    assert code == 0 and found[0]["name"] == source["name"] and found[0]["separation_arcsec"] < 0.1
    for fmt in ("votable", "fits"):
        out = tmp_path / f"cone.{fmt}"
        assert cli.main(["--db", str(db), "--format", fmt, "-o", str(out), "cone", ra, dec, "60"]) == 0
        back = Table.read(out, format=fmt)
        assert list(back["name"]) == [r["name"] for r in found]
        assert back["separation_arcsec"][0] == pytest.approx(found[0]["separation_arcsec"])
    for argv, message in (
        (["cone", "09:75:00", "+54:31:12", "60"], "is not a position"),
        (["cone", "09:18:12", "+54:31:12", "5 kg"], "is not an angle"),
        (["cone", "00:00:00", "-80:00:00", "60"], "no source within"),
    ):
        out = tmp_path / "refused.xml"
        code = cli.main(["--db", str(db), "--format", "votable", "-o", str(out), *argv])
        err = capsys.readouterr().err
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1 and not out.exists()
    assert cli.main(["--db", str(tmp_path / "none.sqlite"), "variables"]) == 1
    assert "no products index" in capsys.readouterr().err


def test_photometry_made_before_the_cutout_sheets_still_indexes(tmp_path):
    """A forced table without the `cutout` column (older code) is indexed, its tiles NULL."""
    work = tmp_path / "work"
    synthetic.write_work_area(work, 2, rows_per_image=5, n_sources=5)
    older, newer = sorted((work / "photometry").glob("*.parquet"))
    pd.read_parquet(older).drop(columns="cutout").to_parquet(older, index=False)
    assert "0 unreadable" in index_now(work, tmp_path / "products.sqlite")
    with sqlite3.connect(tmp_path / "products.sqlite") as conn:
        rows = conn.execute("SELECT obs, cutout FROM photometry JOIN groups USING (group_id)").fetchall()
    assert sorted(c for obs, c in rows if obs == newer.stem) == [0, 1, 2, 3, 4]
    assert [c for obs, c in rows if obs == older.stem] == [None] * 5


def test_a_locked_index_is_one_sentence(tmp_path, capsys, monkeypatch):
    """Another program holds the index exclusively for longer than a query waits: one line,
    exit 1, nothing written."""
    db, _ = variability_index(tmp_path)
    monkeypatch.setattr(query, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(db)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE held (x)")
    try:
        for argv in (["sources"], ["sql", "SELECT count(*) FROM sources"]):
            out = tmp_path / "out.csv"
            code = cli.main(["--db", str(db), "--format", "csv", "-o", str(out), *argv])
            _, err = capsys.readouterr()
            assert code == 1 and "locked" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    finally:
        holder.rollback()
        holder.close()


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`contimg-query ... | head -1`: the rows head needs and no traceback when it closes the pipe."""
    db, _ = variability_index(tmp_path)
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT i FROM n"
    command = [str(Path(sys.executable).parent / "contimg-query"), "--db", str(db), "--format", "csv", "sql", many]
    reader = subprocess.Popen(["head", "-2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer = subprocess.run(command, stdout=reader.stdin, stderr=subprocess.PIPE, text=True)
    reader.stdin.close()
    assert reader.stdout.read().decode().split() == ["i", "1"] and reader.wait() == 0
    assert writer.returncode == 0 and writer.stderr == ""


def test_the_browser_shows_light_curves_variables_and_cone_searches(tmp_path):
    """contimg-browse (Datasette, immutable) on an index with a known variable, driven in
    headless Chromium: the variable's page plots its light curve with all 6 epochs, the
    variability page lists it first, a cone search by sexagesimal position finds it, the eta-V
    page plots; no page errors, and the index file is unchanged afterwards."""
    import socket
    import urllib.request
    from urllib.parse import urlparse

    from astropy.coordinates import SkyCoord
    from playwright.sync_api import sync_playwright
    from test_report import CHROMIUM, CHROMIUM_ARGS

    if CHROMIUM is None:
        pytest.skip("Debian's chromium (make test installs it)")
    db, table = variability_index(tmp_path)
    with sqlite3.connect(db) as conn:
        measured = {obs for (obs,) in conn.execute("SELECT DISTINCT obs FROM photometry JOIN groups USING (group_id)")}
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    browse = Path(sys.executable).parent / "contimg-browse"
    server = subprocess.Popen(
        [str(browse), "--db", str(db), "--work", str(tmp_path / "work"), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/products"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                time.sleep(0.2)
        variable = table.loc[table["variable"], ["name", "ra_deg", "dec_deg"]].iloc[0]
        ra, dec = SkyCoord(variable["ra_deg"], variable["dec_deg"], unit="deg").to_string("hmsdms", sep=":").split()
        errors = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("pageerror", lambda err: errors.append(str(err)))
            sheets = set()
            page.on("response", lambda r: sheets.add(urlparse(r.url).path) if "/cutouts/" in r.url and r.ok else None)

            def rows(url):
                page.goto(url)
                page.wait_for_load_state("networkidle")
                return page.locator("table.rows-and-columns tbody tr")

            page.goto(base + "/variability")
            page.get_by_text(variable["name"], exact=True).first.click()  # its link opens its page
            page.wait_for_load_state("networkidle")
            page.locator(".vega-embed svg, .vega-embed canvas").first.wait_for()
            assert page.locator("table.rows-and-columns tbody tr").count() == 6
            shown = page.locator("table.rows-and-columns tbody tr .cutout")  # one cut-out per epoch, drawn
            assert shown.count() == 6 and all(shown.nth(i).bounding_box()["width"] > 100 for i in range(6))
            assert sheets == {f"/cutouts/{obs}-cutouts.png" for obs in measured}
            assert rows(base + "/variability").first.locator("td").first.inner_text() == variable["name"]
            found = rows(f"{base}/cone?ra={ra}&dec={dec.replace('+', '%2B')}&radius_arcsec=30")
            assert found.count() >= 1 and found.first.locator("td").first.inner_text() == variable["name"]
            rows(base + "/eta_v#g.mark=circle&g.x_column=log10_eta&g.y_column=log10_v&g.x_type=quantitative")
            page.locator(".vega-embed svg, .vega-embed canvas").first.wait_for()
            browser.close()
        assert errors == []
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(db.parent) in read_quietly(p)]  # no orphan
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
