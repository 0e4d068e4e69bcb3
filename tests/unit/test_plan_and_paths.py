"""The plan of a run (contimg.planning) without Snakemake, and the path scheme (contimg.paths)
that the rules, the index and the plan share."""

import copy
import re
import sys
import tokenize

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, project_config
from contimg import naming, paths, planning, selection
from contimg.paths import KINDS, Area

sys.path.insert(0, str(ROOT / "bench"))
import plan_scale  # noqa: E402 (bench/: the synthetic inventory of the planning benchmark)

DAY = plan_scale.DAY_GROUPS  # 279 groups a day, the calibrator transit in the middle of each


@pytest.fixture(scope="module")
def groups():
    return plan_scale.groups_table(3 * DAY)  # 2026-01-01 .. 03


def utc_of(groups):
    """The groups' mid-times as ISO text (pandas, independent of contimg.naming)."""
    return (pd.Timestamp("1858-11-17") + pd.to_timedelta(groups["mjd_mid"], unit="D")).dt.strftime("%Y-%m-%dT%H:%M:%S")


def config_with(**sections):
    config = copy.deepcopy(project_config())
    for section, values in sections.items():
        config[section].update(values)
    return config


def make(groups, failed=None, finished=lambda obs: False, **sections):
    return planning.make(groups, failed or {}, config_with(**sections), finished)


def test_every_group_within_the_validity_of_a_calibration_is_planned(groups):
    validity = 6.0  # the default (12 h) reaches every group of this inventory
    plan = make(groups, calibration={"validity_hours": validity})
    mid = groups["mjd_mid"].to_numpy()
    cal_mid = mid[groups["calibrator"] != ""]
    hours = np.abs(mid[:, None] - cal_mid[None, :]).min(axis=1) * 24
    assert 0 < np.count_nonzero(hours > validity) < len(groups)
    assert plan.complete == list(groups["obs"]) and plan.selected == set(groups["obs"])
    assert plan.calibrated == list(groups["obs"][hours <= validity])
    assert all(plan.no_calibration[obs] for obs in groups["obs"][hours > validity])
    assert plan.skipped() and all("is skipped" in line for line in plan.skipped())
    # every calibrated group belongs to the mosaic of its hour, and every hour's mosaic has its groups
    hour_of = dict(zip(groups["obs"], naming.mosaic_names(mid, 1.0)))
    assert sorted(obs for members in plan.mosaics.values() for obs in members) == sorted(plan.calibrated)
    assert all(hour_of[obs] == hour for hour, members in plan.mosaics.items() for obs in members)
    assert plan.nights == {}  # planning.unit group


def test_a_selection_keeps_whole_mosaics_and_calibrators_outside_it(groups):
    plan = make(groups, planning={"selection": {"start": "2026-01-02T10:30", "end": "2026-01-02T11:30"}})
    utc = utc_of(groups)
    before, after = utc < "2026-01-02T10:30", utc >= "2026-01-02T11:30"
    assert plan.left_out == {"start": before.sum(), "end": after.sum()}
    assert plan.complete == list(groups["obs"][~before & ~after]) and len(plan.complete) == 12
    assert list(plan.mosaics) == ["20260102T1000", "20260102T1100"]
    hour = utc.str[:13]
    assert plan.mosaics == {name: list(groups["obs"][hour == f"2026-01-02T{name[-4:-2]}"]) for name in plan.mosaics}
    assert sum(map(len, plan.mosaics.values())) > 20  # both hours whole, not just the selected half of each
    # the day's calibrator (12:00, outside the selection) is converted and solved for it
    cals = plan.calibrations()
    assert cals and not set(cals) & plan.selected
    products, jobs = plan.stages(Area("work"), exists=lambda path: False)
    assert len(products["convert"]) == 12 + len(cals) and products["solve_calibration"] == [
        [f"work/caltables/{cals[0]}"]
    ]
    assert len(jobs["image"]) == len(jobs["photometry"]) == 12 and len(jobs["mosaic"]) == 2


def test_a_failed_calibration_is_passed_over_and_its_groups_say_why(groups):
    first_cal = groups["obs"][groups["calibrator"] != ""].iat[0]
    plan = make(groups, failed={first_cal: "bandpass SNR too low"})
    assert first_cal not in {cal for cands in plan.candidates.values() for cal in cands}
    day1 = list(groups["obs"][:DAY])
    assert all(obs not in plan.calibrated for obs in day1[: DAY // 2 - 20])  # the next day's is > 12 h away
    assert "bandpass SNR too low" in " ".join(plan.no_calibration[obs] for obs in day1[:10])


def test_stages_count_only_what_is_not_made_yet(groups):
    area, plan = Area("w"), make(groups, calibration={"temporary_ms": True})
    made = {area.ms(obs) for obs in plan.complete[:5]} | {area.calibrated(obs) for obs in plan.calibrated[:50]}
    made |= {area.image(obs, "-image.fits") for obs in plan.calibrated[:40]}
    products, jobs = plan.stages(area, exists=made.__contains__)
    assert len(jobs["image"]) == len(products["image"]) - 40
    assert len(jobs["apply_calibration"]) == len(products["apply_calibration"]) - 50
    # temporary MS: a calibrated group's deleted MS is not remade, a calibrator's still is
    calibrated_without_ms = set(plan.calibrated[:50]) - set(plan.complete[:5])
    assert {f[0] for f in jobs["convert"]}.isdisjoint(area.ms(obs) for obs in calibrated_without_ms)
    assert len(jobs["convert"]) == len(products["convert"]) - 5 - len(calibrated_without_ms)
    assert not plan.keep_ms and area.ms(plan.complete[0]) not in plan.group_products(area, plan.complete[:1], [])


def test_night_unit_plans_each_utc_date_and_its_products(groups):
    plan = make(groups, planning={"unit": "night"})
    assert list(plan.nights) == ["20260101", "20260102", "20260103"]
    dates = utc_of(groups).str[:10].str.replace("-", "")
    assert plan.nights == {night: list(groups["obs"][dates == night]) for night in ("20260101", "20260102", "20260103")}
    area = Area("work")
    night = plan.night_products(area, "20260102")
    assert sum(path.endswith("-qa.json") for path in night) == (dates == "20260102").sum()  # all calibrated
    assert {p for p in night if "/mosaics/" in p} == {
        area.mosaic(f"20260102T{h:02d}00", ext) for h in range(24) for ext in (".fits", ".png")
    }
    assert plan.night_digest("20260102") != plan.night_digest("20260103")
    with pytest.raises(planning.PlanError, match="imaging.mosaic_hours"):
        make(groups, planning={"unit": "night"}, imaging={"mosaic_hours": 5.0})


def test_unfinished_selection_and_wrong_keys(groups):
    done = set(groups["obs"][:100])
    plan = make(groups, finished=done.__contains__, planning={"selection": {"status": "unfinished"}})
    assert plan.left_out == {"status": 100} and not done & plan.selected
    with pytest.raises(planning.PlanError, match=r"planning\.selection\.start"):
        make(groups, planning={"selection": {"start": "2026-13-01"}})


def test_a_plan_before_the_first_inventory_is_empty():
    plan = planning.make(None, {}, project_config(), lambda obs: False)
    assert plan.complete == [] and plan.mosaics == {} and plan.stages(Area("w"))[0]["image"] == []


def test_inventory_rows_and_files_of_a_group(groups):
    plan = make(groups)
    obs = plan.complete[3]
    assert plan.group_files(obs, 16) == list(
        groups.loc[groups["obs"] == obs, [f"sb{k:02d}" for k in range(16)]].iloc[0]
    )
    cal = plan.calibrations()[0]
    assert plan.calibrator_row(cal)["calibrator"] == "SIM CAL J0907+5440"
    with pytest.raises(ValueError, match=f"{obs} is not a calibrator group"):
        plan.calibrator_row(obs)
    broken = groups.assign(status=np.where(groups["obs"] == obs, "incomplete", "complete"))
    with pytest.raises(ValueError, match=f"{obs} is not a complete group"):
        make(broken).group_files(obs, 16)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_indexed_product_path_parses_back_to_its_kind_and_key(kind):
    spec = KINDS[kind]
    key = {paths.OBS: "20260321T050002", paths.HOUR: "20260321T0500", paths.NIGHT: "20260321", "": kind}[spec.key]
    record = spec.record.format(key=key)
    assert spec.key_of(record, kind) == key
    others = [k for k, other in KINDS.items() if k != kind and other.key_of(record, k) is not None]
    assert others == []  # no record is read as another kind's
    assert spec.key_of(f".{record}", kind) is None and spec.key_of(record + ".tmp", kind) is None


def test_the_rules_patterns_and_the_plan_share_one_scheme():
    area = Area("work")
    assert area.image(suffix="-qa.json").format(obs="X") == area.image("X", "-qa.json") == "work/images/X-qa.json"
    assert KINDS["image"].key_of(Area().image("20260321T050002", "-qa.json"), "image") == "20260321T050002"
    assert Area().mosaic("20260321T0500") == "mosaics/20260321T0500.fits"
    # the selection module and the plan agree on what a date means
    assert selection.mjd_of("start", "2026-01-02") == pytest.approx(61042.0)


PRODUCT_DIRECTORY = re.compile(
    r"""^[rfbRFB]*("|')(\{[A-Z_a-z]+\}/)?(inventory|calibration|ms|caltables|calibrated|images|mosaics|photometry|"""
    r"""lightcurves|nights|quarantine|planning|index|release|logs|benchmarks)/"""
)


def string_literals(path):
    """Every string literal of a Python file or a Snakefile (they tokenize alike)."""
    with open(path, "rb") as fh:
        return [tok.string for tok in tokenize.tokenize(fh.readline) if tok.type == tokenize.STRING]


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *(ROOT / "contimg").rglob("*.py"),
            *(ROOT / "scripts").glob("*.py"),
            *(ROOT / "rules").glob("*.smk"),
            ROOT / "Snakefile",
        ]
    ),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_module_but_paths_builds_a_product_path(path):
    """A product path spelt out elsewhere drifts from the scheme (the mosaic path once had four owners)."""
    if path.name == "paths.py":
        return
    spelt = [s for s in string_literals(path) if PRODUCT_DIRECTORY.match(s)]
    assert spelt == [], f"{path.relative_to(ROOT)} builds product paths itself: {spelt} (use contimg.paths)"
