"""The workflow as users run it: snakemake on a deployed config, lint, and config errors."""

import json
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

from conftest import ROOT, SNAKEMAKE, add_catalog_row, deploy, run

def test_simulated_night_and_inventory_are_built(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    assert list(groups["status"]) == ["complete"] * 3
    assert (groups["calibrator"].fillna("") != "").sum() == 1
    assert len(list((tiny_run / "work/incoming").glob("*_sb??.hdf5"))) == 48
    for stage in ("simulate", "inventory"):
        assert list((tiny_run / f"work/benchmarks/{stage}").glob("*.tsv"))
        assert list((tiny_run / f"work/logs/{stage}").glob("*.log"))


def test_every_complete_group_has_a_flagged_ms(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    for obs in groups["obs"]:
        assert (tiny_run / f"work/ms/{obs}.ms/table.dat").exists()
        stats = json.loads((tiny_run / f"work/ms/{obs}.ms.flags.json").read_text())
        assert 0 < stats["fraction_flagged_cross"] < 0.2


def test_the_calibrator_group_is_solved_and_every_group_calibrated(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    cal_obs = groups["obs"][1]
    record = json.loads((tiny_run / f"work/caltables/{cal_obs}/qa.json").read_text())
    assert record["verdict"] == "good", record["reasons"]
    assert record["calibrator"] == "SIM CAL J0907+5440"
    for name in ("bandpass.b", "gains.g", "bandpass.png", "gains.png"):
        assert (tiny_run / f"work/caltables/{cal_obs}/{name}").exists()
    plan = pd.read_csv(tiny_run / "work/calibration/plan.csv")
    assert list(plan["candidates"]) == [cal_obs] * 3
    for obs in groups["obs"]:
        applied = json.loads((tiny_run / f"work/calibrated/{obs}.cal.json").read_text())
        assert applied["calibration"] == cal_obs and applied["passed_over"] == []
        assert (tiny_run / f"work/calibrated/{obs}.ms/table.dat").exists()


def test_temporary_uncalibrated_ms_are_removed_once_calibrated(tmp_path):
    workdir = deploy(tmp_path, calibration={"temporary_ms": True}, scale="tiny")
    for step in (["inventory"], []):
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    for obs in groups["obs"]:
        assert (workdir / f"work/calibrated/{obs}.ms/table.dat").exists()
        assert not (workdir / f"work/ms/{obs}.ms").exists()
        assert (workdir / f"work/ms/{obs}.ms.flags.json").exists()  # the statistics stay
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(run(workdir, "-n"))


def test_every_calibrated_group_is_imaged_and_mosaicked(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    for obs in groups["obs"]:
        for suffix in ("-image.fits", "-image-pb.fits", "-pb.fits", "-qa.json", "-thumb.png"):
            assert (tiny_run / f"work/images/{obs}{suffix}").exists()
    record = json.loads(next((tiny_run / "work/mosaics").glob("*.json")).read_text())
    assert record["mosaic"] == "20260321T0500"
    assert sorted(record["included"] + [e["obs"] for e in record["excluded"]]) == sorted(groups["obs"])


def test_every_image_is_measured_and_the_light_curves_built(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    for obs in groups["obs"]:
        record = json.loads((tiny_run / f"work/photometry/{obs}.json").read_text())
        forced = pd.read_parquet(tiny_run / f"work/photometry/{obs}.parquet")
        assert record["obs"] == obs and len(forced) == record.get("n_forced", 0)
        assert (forced["obs"] == obs).all() and not forced.duplicated("name").any()
        assert (tiny_run / f"work/photometry/{obs}-blind.parquet").exists()
    measurements = pd.read_parquet(tiny_run / "work/lightcurves/measurements.parquet")
    sources = pd.read_parquet(tiny_run / "work/lightcurves/sources.parquet")
    assert len(measurements) == sum(len(pd.read_parquet(tiny_run / f"work/photometry/{o}.parquet")) for o in groups["obs"])
    assert set(sources["name"]) == set(measurements["name"])
    assert (tiny_run / "work/lightcurves/plots").is_dir()


def test_second_run_has_nothing_to_do(tiny_run):
    result = run(tiny_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_new_files_trigger_only_the_inventory(tmp_path):
    workdir = deploy(tmp_path, scale="tiny", enabled=False)
    incoming = workdir / "work/incoming"
    incoming.mkdir(parents=True)
    assert run(workdir).returncode == 0  # empty directory: an empty inventory
    assert pd.read_csv(workdir / "work/inventory/groups.csv").empty
    source = ROOT / "tests"  # any correlator-named file will do to change the listing
    (incoming / "2026-03-21T05:00:00_sb00.hdf5").write_bytes((source / "conftest.py").read_bytes())
    plan = run(workdir, "-n")
    assert "inventory" in plan.stdout and "Params have changed" in plan.stdout
    assert run(workdir).returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    assert list(groups["status"]) == ["unreadable"]


def test_a_group_found_bad_by_the_inventory_is_skipped(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    bad_obs, bad_file = groups["obs"][2], workdir / "work/incoming" / groups["sb07"][2]
    with open(bad_file, "r+b") as handle:  # damaged after the inventory saw it
        handle.truncate(bad_file.stat().st_size // 2)
    assert run(workdir, "inventory", "--forcerun", "inventory").returncode == 0  # a re-scan sees the damage
    result = run(workdir, "--keep-going")
    assert result.returncode == 0, result.stderr[-2000:]  # the bad group is skipped, not attempted
    assert not (workdir / f"work/ms/{bad_obs}.ms").exists()
    for obs in groups["obs"][:2]:
        assert (workdir / f"work/ms/{obs}.ms").exists()
    log = (workdir / "work/logs/inventory/inventory.log").read_text()
    assert bad_obs in log and bad_file.name in log and "truncated" in log


def test_a_group_that_fails_conversion_names_the_file(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    bad_obs, bad_file = groups["obs"][1], workdir / "work/incoming" / groups["sb03"][1]
    with open(bad_file, "r+b") as handle:
        handle.truncate(bad_file.stat().st_size // 2)
    result = run(workdir, "--keep-going")  # the inventory does not re-run: the damage is news to convert
    assert result.returncode != 0
    assert not (workdir / f"work/ms/{bad_obs}.ms").exists() and not list((workdir / "work/ms").glob(".*tmp"))
    assert all((workdir / f"work/ms/{obs}.ms").exists() for obs in groups["obs"] if obs != bad_obs)
    log = (workdir / f"work/logs/convert/{bad_obs}.log").read_text()
    assert bad_file.name in log


def scramble_antennas(path: Path, antennas, seed: int) -> None:
    """Give every visibility of the given antennas' cross-correlations a random phase."""
    with h5py.File(path, "r+") as handle:
        a1, a2 = handle["Header/ant_1_array"][()], handle["Header/ant_2_array"][()]
        hit = (np.isin(a1, antennas) | np.isin(a2, antennas)) & (a1 != a2)
        vis = handle["Data/visdata"]
        data = vis[()]
        phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, data[hit].shape)
        data[hit] *= np.exp(1j * phase).astype(data.dtype)
        vis[...] = data


def test_a_calibrator_failing_the_gate_is_replaced_by_the_next(tmp_path):
    """Two calibrators transit (groups 1 and 3); group 1's data are scrambled on a quarter
    of the antennas, so every group falls back to group 3's calibration and says so."""
    scales = yaml.safe_load((ROOT / "config/config.yaml").read_text())["simulation"]["scales"]
    scales["tiny"]["n_groups"] = 4
    workdir = deploy(tmp_path, scale="tiny", scales=scales)
    second = "SIM CAL J0917+5424,139.48968,54.40,12.0,-0.7"  # transits in the middle of group 3
    add_catalog_row(workdir / "config/catalogs/sky.csv", second)
    add_catalog_row(workdir / "config/catalogs/calibrators.csv", second)
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    assert list(groups["calibrator"].fillna("")) == ["", "SIM CAL J0907+5440", "", "SIM CAL J0917+5424"]
    bad_cal, good_cal = groups["obs"][1], groups["obs"][3]
    with h5py.File(workdir / "work/incoming" / groups["sb00"][1], "r") as handle:
        stations = np.unique(handle["Header/ant_1_array"][()])
    for k, column in enumerate(c for c in groups.columns if c.startswith("sb")):
        scramble_antennas(workdir / "work/incoming" / groups[column][1], stations[::4], seed=k)
    assert run(workdir, "inventory", "--forcerun", "inventory").returncode == 0
    result = run(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    bad = json.loads((workdir / f"work/caltables/{bad_cal}/qa.json").read_text())
    assert bad["verdict"] == "bad" and any("antennas bad" in r for r in bad["reasons"])
    assert json.loads((workdir / f"work/caltables/{good_cal}/qa.json").read_text())["verdict"] == "good"
    plan = pd.read_csv(workdir / "work/calibration/plan.csv").set_index("obs")
    for obs in groups["obs"]:
        applied = json.loads((workdir / f"work/calibrated/{obs}.cal.json").read_text())
        assert applied["calibration"] == good_cal
        candidates = plan.loc[obs, "candidates"].split()
        assert set(candidates) == {bad_cal, good_cal}
        if candidates[0] == bad_cal:  # groups 0 and 1 (group 2 is as near to both)
            assert [p["calibration"] for p in applied["passed_over"]] == [bad_cal]
            log = (workdir / f"work/logs/apply_calibration/{obs}.log").read_text()
            assert f"calibration {bad_cal} is not used" in log


def test_a_night_without_calibrator_is_reported_per_group(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    calibrators = workdir / "config/catalogs/calibrators.csv"
    calibrators.write_text("\n".join(line for line in calibrators.read_text().splitlines() if "SIM CAL" not in line))
    for step in (["inventory"], []):
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    plan = pd.read_csv(workdir / "work/calibration/plan.csv")
    for obs in groups["obs"]:
        message = f"calibration: group {obs} is skipped: no calibrator group at pointing dec 54.57 deg within 12 h"
        assert message in result.stderr
        assert (workdir / f"work/ms/{obs}.ms").exists() and not (workdir / f"work/calibrated/{obs}.ms").exists()
    assert plan["reason"].str.startswith("no calibrator group").all()
    assert not (workdir / "work/caltables").exists()


def test_config_error_stops_before_anything_runs(tmp_path):
    workdir = deploy(tmp_path, scale="huge")
    result = run(workdir, "-n")
    assert result.returncode != 0
    assert "config key 'simulation.scale': 'huge' is not one of" in result.stderr
    assert not (workdir / "work").exists()


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr
