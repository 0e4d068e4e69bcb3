"""A night with every kind of bad input, run as users run it: every good group is processed
to the end, every bad one is reported with its reason (inventory, logs, `contimg-query
problems`), and what the first run produced is neither redone nor changed by the second.

Faults the inventory sees in the headers are skipped at once. Faults that show only in the
data (every visibility flagged, a file damaged after the inventory read it) or against the
station table (an antenna it does not know) fail that group's conversion, which records the
group in quarantine/; the next run's inventory marks it failed and the night-level products
(mosaic, light curves, index) complete without it.
"""

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from pyuvdata import UVData

from conftest import DEPLOYED, RELATIVE, ROOT, TINY_IMAGE_QA, deploy, job_counts, run
from contimg import fingerprint, naming, quarantine, tables
from contimg.index import query

N_GROUPS = 16
GOOD, NAN_ANTENNA = [0, 1, 13], 10  # group 1 holds the calibrator transit
PER_GROUP_RULES = {"convert", "apply_calibration", "image", "photometry"}

# group: (inventory status, what its reason must say) for the faults headers show
INVENTORY_FAULTS = {
    2: ("unreadable", "truncated file"),
    3: ("unreadable", "empty file (0 bytes)"),
    4: ("unreadable", "file signature not found"),
    5: ("unreadable", "HDF5 but not UVH5"),
    6: ("incomplete", "missing subband(s) sb05"),
    7: ("duplicate_subband", "subband 03 appears 2 times"),
    8: ("inconsistent", "pointing dec 16.30 deg differs"),
    9: ("inconsistent", "1 channels where the group has 2"),
    15: ("unreadable", "antenna name DSA-001 is given to antennas 1 and 3"),
}
ALL_FLAGGED, DAMAGED_LATER, UNKNOWN_ANTENNA = 11, 12, 14


def group_paths(workdir, groups, g):
    return [workdir / "work/incoming" / groups[f"sb{k:02d}"][g] for k in range(16)]


def truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def break_headers(workdir, groups):
    """Each group of INVENTORY_FAULTS broken its way."""
    files = {g: group_paths(workdir, groups, g) for g in INVENTORY_FAULTS}
    truncate(files[2][7])
    files[3][4].write_bytes(b"")
    files[4][2].write_text("this is not an HDF5 file\n")
    files[5][9].unlink()
    with h5py.File(files[5][9], "w") as handle:
        handle["something"] = np.arange(3)
    files[6][5].unlink()
    stamp, _ = naming.parse_raw_filename(files[7][3].name)
    later = str(np.datetime64(stamp) + np.timedelta64(20, "s"))
    shutil.copy(files[7][3], files[7][3].with_name(naming.raw_filename(later, 3)))
    with h5py.File(files[8][11], "r+") as handle:
        handle["Header/extra_keywords/phase_center_dec"][()] = np.deg2rad(16.3)
    uvd = UVData.from_file(files[9][3], file_type="uvh5", run_check=False)
    uvd.select(freq_chans=[0], run_check=False)
    uvd.write_uvh5(str(files[9][3]), clobber=True, run_check=False)
    rename_antenna(files[15][0], 2, "pad1")  # a second spelling of station 1


def rename_antenna(path, index, name):
    """Give header antenna ``index`` another name."""
    with h5py.File(path, "r+") as handle:
        names = handle["Header/antenna_names"][()].astype("S8")
        names[index] = name.encode()
        del handle["Header/antenna_names"]
        handle["Header/antenna_names"] = names


def break_data(workdir, groups):
    """One antenna all NaN in group NAN_ANTENNA; every visibility of ALL_FLAGGED flagged."""
    for path in group_paths(workdir, groups, NAN_ANTENNA):
        with h5py.File(path, "r+") as handle:
            ant1, ant2 = handle["Header/ant_1_array"][()], handle["Header/ant_2_array"][()]
            station = np.unique(ant1)[3]
            rows = (ant1 == station) | (ant2 == station)
            vis = handle["Data/visdata"][()]
            vis[rows] = np.nan
            handle["Data/visdata"][...] = vis
    for path in group_paths(workdir, groups, ALL_FLAGGED):
        with h5py.File(path, "r+") as handle:
            handle["Data/flags"][...] = True
    for path in group_paths(workdir, groups, UNKNOWN_ANTENNA):  # a station the table does not know yet
        rename_antenna(path, 0, "DSA-118")  # station 1 carries data
    return station


@pytest.fixture(scope="module")
def bad_night(tmp_path_factory):
    """The night simulated and scanned clean, then broken, re-scanned, one file damaged after
    that scan, and run twice: (workdir, groups table of the clean night, the two runs,
    digests and mtimes of every product after the first run)."""
    scales = yaml.safe_load((ROOT / "config/config.yaml").read_text())["simulation"]["scales"]
    scales["tiny"]["n_groups"] = N_GROUPS
    workdir = deploy(tmp_path_factory.mktemp("bad_night"), scale="tiny", scales=scales, image_qa=TINY_IMAGE_QA)
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / DEPLOYED.inventory(), dtype=str)
    assert (groups["status"] == "complete").all() and groups["calibrator"][1] == "SIM CAL J0907+5440"
    break_headers(workdir, groups)
    station = break_data(workdir, groups)
    assert run(workdir, "inventory", "--forcerun", "inventory").returncode == 0
    truncate(group_paths(workdir, groups, DAMAGED_LATER)[6])  # news to the conversion only
    first = run(workdir, "--keep-going")
    work = workdir / "work"
    after_first = {p: (d, (work / p).stat().st_mtime_ns) for p, d in fingerprint.products(work).items()}
    second = run(workdir)
    return workdir, groups, station, first, second, after_first


def test_inventory_names_each_header_fault(bad_night):
    workdir, groups, *_ = bad_night
    scanned = pd.read_csv(workdir / DEPLOYED.inventory(), dtype=str).set_index("obs")
    for g, (status, reason) in INVENTORY_FAULTS.items():
        row = scanned.loc[groups["obs"][g]]
        assert row["status"] == status and reason in row["reason"], (g, row["status"], row["reason"])


def test_data_faults_fail_only_their_groups_conversion_and_are_quarantined(bad_night):
    workdir, groups, _, first, *_ = bad_night
    assert first.returncode != 0
    flagged, damaged = groups["obs"][ALL_FLAGGED], groups["obs"][DAMAGED_LATER]
    log = (workdir / DEPLOYED.log("convert", flagged)).read_text()
    assert f"every cross-correlation of group {flagged} is flagged" in log
    damaged_file = group_paths(workdir, groups, DAMAGED_LATER)[6].name
    assert damaged_file in (workdir / DEPLOYED.log("convert", damaged)).read_text()
    unknown = groups["obs"][UNKNOWN_ANTENNA]
    log = (workdir / DEPLOYED.log("convert", unknown)).read_text()
    assert "_sb00.hdf5: cannot read UVH5 header: antenna name(s) 'DSA-118' not in the station layout" in log
    for obs in (flagged, damaged, unknown):
        record = json.loads((workdir / DEPLOYED.quarantine(obs)).read_text())
        assert record["stage"] == "convert" and len(record["files"]) == 16
        assert not (workdir / DEPLOYED.ms(obs)).exists()
    assert not list((workdir / "work/ms").glob(".*.tmp"))


def test_every_good_group_is_processed_in_the_first_run(bad_night):
    workdir, groups, station, first, *_ = bad_night
    for g in [*GOOD, NAN_ANTENNA]:
        obs = groups["obs"][g]
        assert (workdir / DEPLOYED.photometry(obs, ".json")).exists(), obs
    flags = json.loads((workdir / DEPLOYED.ms(groups["obs"][NAN_ANTENNA], ".flags.json")).read_text())
    name = f"DSA-{station:03d}"
    assert flags["per_antenna"][name] == 1.0  # the NaN antenna flagged, nothing else lost
    assert max(v for k, v in flags["per_antenna"].items() if k != name) < 0.2


def test_the_second_run_completes_the_night_without_redoing_anything(bad_night):
    workdir, groups, _, _, second, after_first = bad_night
    assert second.returncode == 0, second.stderr[-3000:]
    ran = job_counts(second)
    assert not PER_GROUP_RULES & set(ran), ran  # no group converted, calibrated, imaged or measured again
    assert {"inventory", "lightcurves", "index"} <= set(ran)
    work = workdir / "work"
    now = fingerprint.products(work)
    for path, (digest, mtime) in after_first.items():
        if path.startswith(("ms/", "calibrated/", "caltables/", "images/", "photometry/", "incoming/")):
            assert now[path] == digest and (work / path).stat().st_mtime_ns == mtime, path
    measured = pd.read_parquet(
        work / RELATIVE.lightcurves("measurements.parquet")
    )  # (sources bright enough: group 1's)
    assert len(measured) and set(measured["obs"]) <= {groups["obs"][g] for g in [*GOOD, NAN_ANTENNA]}


def test_every_bad_group_is_reported_with_its_reason(bad_night):
    workdir, groups, *_ = bad_night
    scanned = pd.read_csv(workdir / DEPLOYED.inventory(), dtype=str).set_index("obs")
    flagged, damaged = groups["obs"][ALL_FLAGGED], groups["obs"][DAMAGED_LATER]
    assert scanned.loc[flagged, "status"] == "failed"
    assert "convert failed" in scanned.loc[flagged, "reason"] and "is flagged" in scanned.loc[flagged, "reason"]
    unknown = scanned.loc[groups["obs"][UNKNOWN_ANTENNA]]
    assert unknown["status"] == "failed" and "'DSA-118' not in the station layout" in unknown["reason"]
    assert scanned.loc[damaged, "status"] == "unreadable"  # the re-scan reads the damage in the header
    _, rows = query.problems(query.connect_read_only(workdir / "work/products.sqlite"))
    reported = {obs: problem for obs, stage, problem in rows if stage == "inventory"}
    bad = [*INVENTORY_FAULTS, ALL_FLAGGED, DAMAGED_LATER, UNKNOWN_ANTENNA]
    assert set(reported) == {groups["obs"][g] for g in bad}
    # of the good groups, only the sourceless tiny images' QA is reported (16 antennas, 1 degree)
    assert {stage for obs, stage, _ in rows if obs not in reported} <= {"image"}
    for g, (status, reason) in INVENTORY_FAULTS.items():
        assert reported[groups["obs"][g]].startswith(status) and reason in reported[groups["obs"][g]]
    assert "every cross-correlation" in reported[flagged]


def test_a_quarantined_group_is_tried_again_once_a_file_is_delivered_again(bad_night, tmp_path):
    workdir, groups, *_ = bad_night
    obs = groups["obs"][ALL_FLAGGED]
    for path in group_paths(workdir, groups, ALL_FLAGGED):
        shutil.copy2(path, tmp_path / path.name)  # with its mtime
    clean = tables.read_groups(workdir / DEPLOYED.inventory())
    clean.loc[clean["obs"] == obs, ["status", "reason"]] = ["complete", ""]  # as a header scan finds it
    records = quarantine.read_all(workdir / "work/quarantine")
    marked, stale = quarantine.mark_groups(clean, tmp_path, records)
    assert marked.set_index("obs").loc[obs, "status"] == "failed" and not stale
    (tmp_path / group_paths(workdir, groups, ALL_FLAGGED)[0].name).touch()  # delivered again
    marked, stale = quarantine.mark_groups(clean, tmp_path, records)
    assert marked.set_index("obs").loc[obs, "status"] == "complete"
    assert stale == [str(workdir / DEPLOYED.quarantine(obs))]
