"""The inventory on a night with every kind of bad group, against what was done to each."""

import shutil

import h5py
import numpy as np
import pytest

from conftest import calibrators, project_config, simulate_night
from contimg import inventory, layout, naming

SCALE = {"tiny": {"n_antennas": 8, "channels_per_subband": 1, "n_groups": 8}}


def shifted(name, seconds):
    stamp, sb = naming.parse_raw_filename(name)
    t = np.datetime64(stamp) + np.timedelta64(seconds, "s")
    return naming.raw_filename(str(t), sb)


@pytest.fixture(scope="module")
def bad_night(tmp_path_factory):
    """Eight groups: 0 and 1 good (1 has the calibrator), 2-7 each broken in one way."""
    out = tmp_path_factory.mktemp("bad_night")
    scene, files = simulate_night(out, scale="tiny", scales=SCALE)
    incoming = out / "incoming"
    by_group = [files[16 * g : 16 * (g + 1)] for g in range(8)]
    by_group[2][5].unlink()  # missing subband
    shutil.copy(by_group[3][3], incoming / shifted(by_group[3][3].name, 20))  # duplicate subband
    with open(by_group[4][7], "r+b") as handle:  # truncated
        handle.truncate(by_group[4][7].stat().st_size // 2)
    by_group[5][2].write_text("this is not an HDF5 file\n")  # not HDF5
    by_group[5][4].write_bytes(b"")  # zero length
    by_group[6][9].unlink()  # HDF5 but not UVH5
    with h5py.File(by_group[6][9], "w") as handle:
        handle["something"] = np.arange(3)
    with h5py.File(by_group[7][11], "r+") as handle:  # another pointing
        handle["Header/extra_keywords/phase_center_dec"][()] = np.deg2rad(16.3)
    (incoming / "README.txt").write_text("not a correlator file name: ignored")
    return out, scene, by_group


def run_inventory(incoming, cache=None, workers=1):
    cfg = project_config()
    cfg["inventory"]["workers"] = workers
    return inventory.build(
        incoming,
        cache,
        cfg["inventory"],
        16,
        calibrators(cfg),
        layout.site_location(cfg["instrument"]["site"]),
    )


def test_each_bad_group_is_reported_with_its_reason(bad_night):
    out, scene, by_group = bad_night
    files, groups = run_inventory(out / "incoming")
    assert len(groups) == 8
    status = dict(zip(groups["obs"], groups["status"]))
    reason = dict(zip(groups["obs"], groups["reason"]))
    obs = [naming.obs_id(g.file_stamps) for g in scene.groups]
    assert status[obs[0]] == status[obs[1]] == "complete"
    assert status[obs[2]] == "incomplete" and "sb05" in reason[obs[2]]
    assert status[obs[3]] == "duplicate_subband" and "subband 03" in reason[obs[3]]
    assert status[obs[4]] == "unreadable" and by_group[4][7].name in reason[obs[4]] and "truncated" in reason[obs[4]]
    assert status[obs[5]] == "unreadable" and by_group[5][2].name in reason[obs[5]]
    assert "empty file" in reason[obs[5]] and by_group[5][4].name in reason[obs[5]]
    assert status[obs[6]] == "unreadable" and "not UVH5" in reason[obs[6]] and by_group[6][9].name in reason[obs[6]]
    assert status[obs[7]] == "inconsistent" and by_group[7][11].name in reason[obs[7]] and "pointing" in reason[obs[7]]
    assert "README.txt" not in set(files["name"])


def test_good_groups_have_times_pointing_lst_and_files(bad_night):
    out, scene, _ = bad_night
    _, groups = run_inventory(out / "incoming")
    good = groups.iloc[0]
    times = scene.groups[0].times
    assert good["mjd_start"] == pytest.approx(times.mjd.min() - 12.884902 / 2 / 86400, abs=1e-7)
    assert good["mjd_end"] == pytest.approx(times.mjd.max() + 12.884902 / 2 / 86400, abs=1e-7)
    assert good["pointing_dec_deg"] == pytest.approx(54.57)
    assert (good["lst_end_h"] - good["lst_start_h"]) * 3600 == pytest.approx(24 * 12.884902 * 1.0027379, rel=1e-4)
    assert good["sb00"].endswith("_sb00.hdf5") and good["sb15"].endswith("_sb15.hdf5")


def test_calibrator_transit_is_found_in_its_group_only(bad_night):
    out, scene, _ = bad_night
    _, groups = run_inventory(out / "incoming")
    hits = groups[groups["calibrator"] != ""]
    assert list(hits["obs"]) == [naming.obs_id(scene.groups[1].file_stamps)]
    row = hits.iloc[0]
    assert row["calibrator"] == "SIM CAL J0907+5440"
    assert abs(row["calibrator_ha_deg"]) < 0.1  # placed to transit at the group's middle
    assert row["mjd_start"] < row["calibrator_transit_mjd"] < row["mjd_end"]


def test_rescan_reads_only_new_or_changed_files(bad_night, tmp_path, monkeypatch):
    out, _, by_group = bad_night
    incoming = tmp_path / "incoming"
    shutil.copytree(out / "incoming", incoming)
    files, groups = run_inventory(incoming)
    calls = []
    original = inventory.read_header
    monkeypatch.setattr(inventory, "read_header", lambda path: calls.append(path.name) or original(path))
    files2, groups2 = run_inventory(incoming, cache=files)
    assert calls == [] and groups2.equals(groups)
    shutil.copy(incoming / by_group[1][0].name, incoming / shifted(by_group[1][0].name, 86400))  # a new file
    (incoming / by_group[0][1].name).touch()  # a changed mtime
    files3, groups3 = run_inventory(incoming, cache=files2)
    assert sorted(calls) == sorted([shifted(by_group[1][0].name, 86400), by_group[0][1].name])
    assert len(groups3) == 9 and groups3.iloc[-1]["status"] == "incomplete"


def test_parallel_scan_gives_the_same_table(bad_night):
    out, _, _ = bad_night
    serial, _ = run_inventory(out / "incoming", workers=1)
    parallel_files = inventory.scan_files(out / "incoming", None, workers=2)
    assert parallel_files.drop(columns="mtime_ns").equals(serial.drop(columns="mtime_ns"))
