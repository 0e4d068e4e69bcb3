"""Planning big runs: group selection in config, and the night unit (one job per night that
runs the night's group jobs in an inner Snakemake) making exactly the group unit's products."""

import json
import sys

import numpy as np
import pandas as pd
import yaml

from conftest import DEPLOYED, ROOT, TINY_IMAGE_QA, assert_same_products, deploy, job_counts, run
from contimg import naming, plansummary, selection

sys.path.insert(0, str(ROOT / "bench"))
import plan_scale  # noqa: E402 (bench/: the synthetic inventory of the planning benchmark)


def set_planning(workdir, planning, **imaging):
    path = workdir / "config/config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["planning"] = planning
    cfg["imaging"].update(imaging)
    path.write_text(yaml.safe_dump(cfg))


def test_a_night_job_makes_the_products_of_the_group_jobs(tiny_run, tmp_path):
    workdir = deploy(tmp_path, scale="tiny", image_qa=TINY_IMAGE_QA)
    set_planning(workdir, {"unit": "night"})
    assert run(workdir, "inventory").returncode == 0
    result = run(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    # the outer run: calibrations first (1 calibrator group), then one job for the night
    assert job_counts(result) == {
        "calibration_plan": 1,
        "convert": 1,
        "solve_calibration": 1,
        "night": 1,
        "night_measurements": 1,
        "lightcurves": 1,
        "index": 1,
        "all": 1,
    }
    inner = (workdir / DEPLOYED.log("night", "20260321")).read_text()
    assert "apply_calibration        3" in inner and "image                    3" in inner
    assert_same_products(workdir / "work", tiny_run / "work", extra=("nights/20260321.json",))
    assert job_counts(run(workdir)) == {}  # nothing left to do
    assert run(workdir, "plan").returncode == 0
    plan = json.loads((workdir / DEPLOYED.planning(".json")).read_text())
    assert plan["total"]["jobs"] == 0 and plan["skipped"] == []
    assert all(
        row["source"] == f"{1 if row['stage'] in ('solve_calibration', 'mosaic') else 3} benchmark record(s)"
        for row in plan["stages"]
    )


def test_selection_and_night_unit_plan(tmp_path):
    """Dry runs on a synthetic inventory of ~2 days (600 groups, a calibrator a day)."""
    plan_scale.make_area(tmp_path, 600)
    groups = pd.read_csv(tmp_path / DEPLOYED.inventory())
    mid = groups["mjd_mid"].to_numpy()
    day2 = (mid >= selection.mjd_of("start", "2026-01-02")) & (mid < selection.mjd_of("end", "2026-01-03"))

    set_planning(tmp_path, {"selection": {"start": "2026-01-02", "end": "2026-01-03"}})
    result = run(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result)
    cal_mid = groups.loc[groups["calibrator"].notna(), "mjd_mid"].to_numpy()
    hours = np.abs(mid[:, None] - cal_mid[None, :]) * 24  # group x calibrator
    calibrated = day2 & (hours.min(axis=1) <= 12.0)
    assert counts["image"] == counts["photometry"] == counts["apply_calibration"] == calibrated.sum() > 200
    assert counts["mosaic"] == 24
    # the calibrations in reach (12 h) of a group of day 2 are solved, their groups converted
    needed = (hours[day2] <= 12.0).any(axis=0)
    cal_in_day2 = (cal_mid >= mid[day2].min()) & (cal_mid <= mid[day2].max())
    assert counts["solve_calibration"] == needed.sum() >= 1
    assert counts["convert"] == day2.sum() + (needed & ~cal_in_day2).sum()
    assert (
        f"planning.selection.start leaves out {(mid < selection.mjd_of('start', '2026-01-02')).sum()} group(s)"
        in result.stderr
    )

    assert run(tmp_path, "plan").returncode == 0
    plan = json.loads((tmp_path / DEPLOYED.planning(".json")).read_text())
    assert (
        plan["groups_selected"] == day2.sum()
        and plan["left_out_by_selection"]["end"] == (~day2).sum() - plan["left_out_by_selection"]["start"]
    )
    stages = {row["stage"]: row for row in plan["stages"]}
    assert {name: row["jobs"] for name, row in stages.items()} == {name: counts[name] for name in stages}
    full_size_image_s = plansummary.DEFAULTS["image"][0]  # no image job has run here yet
    assert stages["image"]["core_hours"] == round(calibrated.sum() * full_size_image_s * 2 / 3600, 2)
    assert stages["image"]["source"].startswith("default")

    set_planning(tmp_path, {"unit": "night"})
    result = run(tmp_path, "-n")
    out_of_reach = groups["obs"][hours.min(axis=1) > 12.0]
    nights = len(set(naming.night_names(mid)))
    assert job_counts(result) == {
        "calibration_plan": 1,
        "convert": len(cal_mid),
        "solve_calibration": len(cal_mid),
        "night": nights,
        "night_measurements": len(set(naming.night_names(mid[hours.min(axis=1) <= 12.0]))),
        "lightcurves": 1,
        "index": 1,
        "all": 1,
    }
    assert run(tmp_path, "plan").returncode == 0
    plan = json.loads((tmp_path / DEPLOYED.planning(".json")).read_text())
    assert plan["nights"] == nights and plan["groups_selected"] == len(groups)
    assert [s["obs"] for s in plan["skipped"]] == list(out_of_reach) and len(out_of_reach) > 0
    assert all(s["status"] == "no calibration" and "within 12 h" in s["reason"] for s in plan["skipped"])


def test_night_unit_needs_whole_hours_per_night(tmp_path):
    plan_scale.make_area(tmp_path, 10)
    set_planning(tmp_path, {"unit": "night"}, mosaic_hours=5.0)
    result = run(tmp_path, "-n")
    assert result.returncode != 0 and "imaging.mosaic_hours to divide 24" in result.stderr
