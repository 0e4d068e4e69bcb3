"""Calibration faults: a calibrator group whose solutions fail the quality gate (another
calibration in reach is used instead, and the records say why; with none in reach the
groups are skipped and reported), and a night without any calibrator."""

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

from conftest import DEPLOYED, ROOT, add_catalog_row, deploy, job_counts, run
from contimg.index import query


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
    add_catalog_row(workdir / "config/catalogs/simulated_calibrators.csv", second)
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    assert list(groups["calibrator"].fillna("")) == ["", "SIM CAL J0907+5440", "", "SIM CAL J0917+5424"]
    bad_cal, good_cal = groups["obs"][1], groups["obs"][3]
    with h5py.File(workdir / "work/incoming" / groups["sb00"][1], "r") as handle:
        stations = np.unique(handle["Header/ant_1_array"][()])
    for k, column in enumerate(c for c in groups.columns if c.startswith("sb")):
        scramble_antennas(workdir / "work/incoming" / groups[column][1], stations[::4], seed=k)
    assert run(workdir, "inventory", "--forcerun", "inventory").returncode == 0
    result = run(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    bad = json.loads((workdir / DEPLOYED.caltables(bad_cal, "qa.json")).read_text())
    assert bad["verdict"] == "bad" and any("antennas bad" in r for r in bad["reasons"])
    assert json.loads((workdir / DEPLOYED.caltables(good_cal, "qa.json")).read_text())["verdict"] == "good"
    plan = pd.read_csv(workdir / DEPLOYED.calibration_plan()).set_index("obs")
    for obs in groups["obs"]:
        applied = json.loads((workdir / DEPLOYED.calibrated(obs, ".cal.json")).read_text())
        assert applied["calibration"] == good_cal
        candidates = plan.loc[obs, "candidates"].split()
        assert set(candidates) == {bad_cal, good_cal}
        if candidates[0] == bad_cal:  # groups 0 and 1 (group 2 is as near to both)
            assert [p["calibration"] for p in applied["passed_over"]] == [bad_cal]
            log = (workdir / DEPLOYED.log("apply_calibration", obs)).read_text()
            assert f"calibration {bad_cal} is not used" in log


def test_a_night_without_calibrator_is_reported_per_group(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    calibrators = workdir / "config/catalogs/simulated_calibrators.csv"
    calibrators.write_text("\n".join(line for line in calibrators.read_text().splitlines() if "SIM CAL" not in line))
    for step in (["inventory"], []):
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    plan = pd.read_csv(workdir / DEPLOYED.calibration_plan())
    for obs in groups["obs"]:
        message = f"calibration: group {obs} is skipped: no calibrator group at pointing dec 54.57 deg within 12 h"
        assert message in result.stderr
        assert (workdir / DEPLOYED.ms(obs)).exists() and not (workdir / DEPLOYED.calibrated(obs)).exists()
    assert plan["reason"].str.startswith("no calibrator group").all()
    assert not (workdir / "work/caltables").exists()


def test_groups_whose_only_calibration_fails_are_reported_and_the_night_completes(tmp_path):
    """The one calibrator group of the night is scrambled: every apply job fails naming the
    gate's reasons; the next run plans the groups without calibration, says why, and
    completes (index included) without solving or applying anything again."""
    workdir = deploy(tmp_path, scale="tiny")
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / DEPLOYED.inventory(), dtype=str)
    cal = groups["obs"][1]
    with h5py.File(workdir / "work/incoming" / groups["sb00"][1], "r") as handle:
        stations = np.unique(handle["Header/ant_1_array"][()])
    for k, column in enumerate(c for c in groups.columns if c.startswith("sb")):
        scramble_antennas(workdir / "work/incoming" / groups[column][1], stations[::4], seed=k)
    first = run(workdir, "--keep-going")
    assert first.returncode != 0
    for obs in groups["obs"]:
        log = (workdir / DEPLOYED.log("apply_calibration", obs)).read_text()
        assert "no good calibration among 1 candidate(s)" in log and "antennas bad" in log
    second = run(workdir)
    assert second.returncode == 0, second.stderr[-3000:]
    assert set(job_counts(second)) == {"calibration_plan", "index", "all"}
    plan = pd.read_csv(workdir / DEPLOYED.calibration_plan(), dtype=str).set_index("obs")
    db = query.connect_read_only(workdir / "work/products.sqlite")
    problems = set(query.problems(db)[1])
    for obs in groups["obs"]:
        reason = plan.loc[obs, "reason"]
        assert reason.startswith(f"every calibration in reach failed its quality gate: {cal}: ")
        assert f"calibration: group {obs} is skipped: {reason}" in second.stderr
        assert (obs, "calibration", f"no calibration: {reason}") in problems
    assert any(p[:2] == (cal, "calibration") and p[2].startswith("calibration failed its gate") for p in problems)
