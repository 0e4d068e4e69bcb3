"""New correlator files arriving between two runs: `snakemake inventory` then `snakemake`
(as the README runs a night) processes only the new group; nothing of the old groups is
redone or changed, and the night-level products (mosaic, light curves, index) take it in."""

import filecmp
import shutil

import pandas as pd
import yaml

from conftest import RELATIVE, ROOT, copied_run, job_counts, run, simulate_night
from contimg import fingerprint

PER_GROUP = ("ms/", "calibrated/", "caltables/", "images/", "photometry/20")


def test_only_the_new_group_is_processed(tiny_run, tmp_path):
    """The finished tiny night is the first delivery (its 3 groups are the telescope's first 3:
    same seed, same bytes); from then on the files come from the telescope, and a 4th arrives."""
    scales = yaml.safe_load((ROOT / "config/config.yaml").read_text())["simulation"]["scales"]
    scales["tiny"]["n_groups"] = 4
    _, files = simulate_night(tmp_path / "telescope", scale="tiny", scales=scales)
    workdir = copied_run(tiny_run, tmp_path / "deployed")
    incoming = workdir / "work/incoming"
    assert all(filecmp.cmp(path, incoming / path.name, shallow=False) for path in files[: 3 * 16])
    cfg_path = workdir / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["simulation"]["enabled"] = False
    cfg_path.write_text(yaml.safe_dump(cfg))
    work = workdir / "work"
    before = {
        p: (d, (work / p).stat().st_mtime_ns) for p, d in fingerprint.products(work).items() if p.startswith(PER_GROUP)
    }

    for path in files[3 * 16 :]:  # the next group arrives
        shutil.copy2(path, incoming)
    assert run(workdir, "inventory").returncode == 0
    second = run(workdir)
    assert second.returncode == 0, second.stderr[-3000:]
    ran = job_counts(second)
    assert ran == {
        "all": 1,
        "calibration_plan": 1,
        "convert": 1,
        "apply_calibration": 1,
        "image": 1,
        "photometry": 1,
        "mosaic": 1,
        "night_measurements": 1,
        "lightcurves": 1,
        "index": 1,
    }
    now = fingerprint.products(work)
    for path, (digest, mtime) in before.items():
        assert now[path] == digest and (work / path).stat().st_mtime_ns == mtime, path
    new = pd.read_csv(work / RELATIVE.inventory(), dtype=str)["obs"].iloc[-1]
    assert RELATIVE.photometry(new, ".json") in now and RELATIVE.image(new, "-image.fits") in now
