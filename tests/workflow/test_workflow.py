"""The workflow as users run it: snakemake on a deployed config, lint, and config errors."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import DEPLOYED, ROOT, SNAKEMAKE, copied_run, deploy, job_counts, run
from contimg.photometry import cutouts


def test_simulated_night_and_inventory_are_built(tiny_run):
    groups = pd.read_csv(tiny_run / DEPLOYED.inventory())
    assert list(groups["status"]) == ["complete"] * 3
    assert (groups["calibrator"].fillna("") != "").sum() == 1
    assert len(list((tiny_run / "work/incoming").glob("*_sb??.hdf5"))) == 48
    for stage in ("simulate", "inventory"):
        assert list((tiny_run / f"work/benchmarks/{stage}").glob("*.tsv"))
        assert list((tiny_run / f"work/logs/{stage}").glob("*.log"))


def test_every_complete_group_has_a_flagged_ms(tiny_run):
    groups = pd.read_csv(tiny_run / DEPLOYED.inventory())
    for obs in groups["obs"]:
        assert (tiny_run / DEPLOYED.ms(obs) / "table.dat").exists()
        stats = json.loads((tiny_run / DEPLOYED.ms(obs, ".flags.json")).read_text())
        assert 0 < stats["fraction_flagged_cross"] < 0.2


def test_the_calibrator_group_is_solved_and_every_group_calibrated(tiny_run):
    groups = pd.read_csv(tiny_run / DEPLOYED.inventory())
    cal_obs = groups["obs"][1]
    record = json.loads((tiny_run / DEPLOYED.caltables(cal_obs, "qa.json")).read_text())
    assert record["verdict"] == "good", record["reasons"]
    assert record["calibrator"] == "SIM CAL J0907+5440"
    for name in ("bandpass.b", "gains.g", "bandpass.png", "gains.png"):
        assert (tiny_run / DEPLOYED.caltables(cal_obs, name)).exists()
    plan = pd.read_csv(tiny_run / DEPLOYED.calibration_plan())
    assert list(plan["candidates"]) == [cal_obs] * 3
    for obs in groups["obs"]:
        applied = json.loads((tiny_run / DEPLOYED.calibrated(obs, ".cal.json")).read_text())
        assert applied["calibration"] == cal_obs and applied["passed_over"] == []
        assert (tiny_run / DEPLOYED.calibrated(obs) / "table.dat").exists()


def test_temporary_uncalibrated_ms_are_removed_once_calibrated(tmp_path):
    workdir = deploy(tmp_path, calibration={"temporary_ms": True}, scale="tiny")
    for step in (["inventory"], []):
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    for obs in groups["obs"]:
        assert (workdir / DEPLOYED.calibrated(obs) / "table.dat").exists()
        assert not (workdir / DEPLOYED.ms(obs)).exists()
        assert (workdir / DEPLOYED.ms(obs, ".flags.json")).exists()  # the statistics stay
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(run(workdir, "-n"))


def test_every_calibrated_group_is_imaged_and_mosaicked(tiny_run):
    groups = pd.read_csv(tiny_run / DEPLOYED.inventory())
    for obs in groups["obs"]:
        for suffix in ("-image.fits", "-image-pb.fits", "-pb.fits", "-qa.json", "-thumb.png"):
            assert (tiny_run / DEPLOYED.image(obs, suffix)).exists()
    record = json.loads(next((tiny_run / "work/mosaics").glob("*.json")).read_text())
    assert record["mosaic"] == "20260321T0500"
    assert sorted(record["included"] + [e["obs"] for e in record["excluded"]]) == sorted(groups["obs"])


def test_every_image_is_measured_and_the_light_curves_built(tiny_run):
    groups = pd.read_csv(tiny_run / DEPLOYED.inventory())
    for obs in groups["obs"]:
        record = json.loads((tiny_run / DEPLOYED.photometry(obs, ".json")).read_text())
        forced = pd.read_parquet(tiny_run / DEPLOYED.photometry(obs))
        assert record["obs"] == obs and len(forced) == record.get("n_forced", 0)
        assert (forced["obs"] == obs).all() and not forced.duplicated("name").any()
        blind = pd.read_parquet(tiny_run / DEPLOYED.photometry(obs, "-blind.parquet"))
        n_tiles = len(forced) + int(blind["new_source"].sum())
        assert sorted(forced["cutout"]) + sorted(blind.loc[blind["new_source"], "cutout"]) == list(range(n_tiles))
        sheet = np.asarray(Image.open(tiny_run / DEPLOYED.photometry(obs, "-cutouts.png")).convert("RGB"))
        assert sheet.shape[0] == cutouts.TILE * max(1, -(-n_tiles // cutouts.COLUMNS))
        if len(forced):  # the brightest source is the darkest pixel of its own tile, at the centre
            left, top = cutouts.tile_origin(int(forced.loc[forced["snr"].idxmax(), "cutout"]))
            tile = sheet[top : top + cutouts.TILE - 1, left : left + cutouts.TILE - 1].astype(int).sum(axis=2)
            centre = (cutouts.TILE - 1) // 2
            assert tile[centre - 1 : centre + 2, centre - 1 : centre + 2].min() == tile.min()
    measurements = pd.read_parquet(tiny_run / DEPLOYED.lightcurves("measurements.parquet"))
    sources = pd.read_parquet(tiny_run / DEPLOYED.lightcurves("sources.parquet"))
    assert len(measurements) == sum(len(pd.read_parquet(tiny_run / DEPLOYED.photometry(o))) for o in groups["obs"])
    assert set(sources["name"]) == set(measurements["name"])
    assert (tiny_run / DEPLOYED.lightcurves("plots")).is_dir()


def test_second_run_has_nothing_to_do(tiny_run):
    result = run(tiny_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_new_files_trigger_only_the_inventory(tmp_path):
    workdir = deploy(tmp_path, scale="tiny", enabled=False)
    incoming = workdir / "work/incoming"
    incoming.mkdir(parents=True)
    assert run(workdir).returncode == 0  # empty directory: an empty inventory
    assert pd.read_csv(workdir / DEPLOYED.inventory()).empty
    source = ROOT / "tests"  # any correlator-named file will do to change the listing
    (incoming / "2026-03-21T05:00:00_sb00.hdf5").write_bytes((source / "conftest.py").read_bytes())
    plan = run(workdir, "-n")
    assert "inventory" in plan.stdout and "Params have changed" in plan.stdout
    assert run(workdir).returncode == 0
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    assert list(groups["status"]) == ["unreadable"]


def test_config_error_stops_before_anything_runs(tmp_path):
    workdir = deploy(tmp_path, scale="huge")
    result = run(workdir, "-n")
    assert result.returncode != 0
    assert "config key 'simulation.scale': 'huge' is not one of" in result.stderr
    assert not (workdir / "work").exists()


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def changed_copy(tiny_run, tmp_path, edit) -> Path:
    """A copy of the finished tiny night (metadata and mtimes kept) with its config edited."""
    workdir = copied_run(tiny_run, tmp_path / "copy")
    cfg_path = workdir / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    edit(workdir, cfg)
    cfg_path.write_text(yaml.safe_dump(cfg))
    return workdir


def moved_station_table(workdir, cfg):
    """The pipeline's station table with DSA-117 (an outrigger with data) moved by 10 cm."""
    table = (workdir / cfg["instrument"]["station_table"]).read_text().splitlines()
    row = next(k for k, line in enumerate(table) if line.startswith("DSA-117,"))
    name, lat, lon, height = table[row].split(",")
    table[row] = f"{name},{float(lat) + 1e-6:.7f},{lon},{height}"
    (workdir / "config/stations/surveyed.csv").write_text("\n".join(table) + "\n")
    cfg["instrument"]["station_table"] = "config/stations/surveyed.csv"


def new_sefd(workdir, cfg):
    cfg["instrument"]["sefd_jy"] = 6000.0


@pytest.mark.parametrize("edit", [moved_station_table, new_sefd], ids=["station table", "SEFD"])
def test_a_changed_instrument_setting_reruns_conversion_and_what_follows(tiny_run, tmp_path, edit):
    """Every job after the conversion depends on it; nothing before it reads these settings."""
    workdir = changed_copy(tiny_run, tmp_path, edit)
    counts = job_counts(run(workdir, "-n"))
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    n = len(groups)
    assert counts["convert"] == n and counts["apply_calibration"] == n and counts["image"] == n
    assert counts["solve_calibration"] == 1 and counts["photometry"] == n and counts["mosaic"] == 1
    assert {"lightcurves", "index", "all"} <= set(counts)
    assert not {"simulate_night", "inventory", "calibration_plan"} & set(counts), counts


def test_a_changed_variability_setting_reruns_the_light_curves_alone(tiny_run, tmp_path):
    """Only the light curves read photometry.variability: no group's photometry re-runs."""
    workdir = changed_copy(tiny_run, tmp_path, lambda _, cfg: cfg["photometry"]["variability"].update(false_alarm=1e-3))
    assert job_counts(run(workdir, "-n")) == {"lightcurves": 1, "index": 1, "all": 1}
