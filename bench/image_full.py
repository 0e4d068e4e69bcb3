"""Imaging of one full-size calibrated group (96 antennas, 768 channels, 24 integrations).

Measured in the same run, each in a fresh process (wall time and peak memory):
  - ours: rule image's job (`contimg.imaging.image.image_group`: bright-source subtraction on
    a scratch copy, WSClean, primary beam, QA against the catalogue, headers, thumbnail);
  - baselines: the bare WSClean call the job makes, with the same options, (1) on the
    calibrated MS as it is (what a user would run by hand) and (2) on the job's subtracted
    copy (WSClean's own share of the job).
The ratio to (1) is the workflow's own overhead (goal: within 10 %); the ratio to (2) adds
the cost of the bright-source subtraction, which also makes WSClean's clean shallower.

    .venv/bin/python bench/image_full.py --ms CALIBRATED.ms [--keep DIR]

``--keep DIR`` keeps our job's products (DIR/g-image.fits, ...; bench/photometry_full.py reads them).
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from common import report, timed_child

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--ms", type=Path, required=True, help="a calibrated full-size group (e.g. from a full-scale run)")
parser.add_argument("--keep", type=Path, help="copy our job's image products into this directory")
args = parser.parse_args()
ms = args.ms.resolve()
work = Path(tempfile.mkdtemp(prefix="image_bench_"))
SETUP = f"""
import sys; sys.path.insert(0, "tests")
from pathlib import Path
from conftest import project_config, typed_settings
from contimg import layout, msio, sky
from contimg.imaging import image, wsclean
cfg = project_config()
settings = typed_settings(cfg, "imaging")
site = layout.site_location(cfg["instrument"]["site"])
cals, cat = sky.read_catalog(cfg["inventory"]["calibrator_catalog"]), sky.read_catalog(cfg["imaging"]["catalog"])
ms = Path("{ms}")
"""
OURS = (
    SETUP
    + f"""
image.image_group(ms, Path("{work}/ours/g"), image.Group({{"calibration": "bench"}}, 54.57, site, 4.65), cals, cat,
                  settings, wsclean.Job(2, 16.0, Path("{work}/ours.log")))
"""
)
# the visibilities the job hands to WSClean, made once outside the timing
PREPARE = (
    SETUP
    + f"""
import json
geom = wsclean.image_geometry(str(ms), settings.fov_deg, settings.pixels_per_beam, settings.robust)
imaged, names = image.subtract_bright(ms, Path("{work}/bare"), geom, cals, cat, image.Group({{}}, 54.57, site, 4.65),
                                     msio.ms_layout(str(ms), site), settings)
commands = [wsclean.with_resources(wsclean.command(str(vis), f"{work}/bare/{{name}}", geom, settings), 2, 16.0)
            for name, vis in (("calibrated", ms), ("subtracted", imaged))]
Path("{work}/bare/cmd.json").write_text(json.dumps(commands))
"""
)
(work / "ours").mkdir()
(work / "bare").mkdir()
ours = timed_child(OURS)
timed_child(PREPARE)
bare = {
    name: timed_child(f"import subprocess; subprocess.run({cmd!r}, check=True, capture_output=True)")
    for name, cmd in zip(("calibrated", "subtracted"), json.loads((work / "bare/cmd.json").read_text()))
}
record = json.loads((work / "ours/g-qa.json").read_text())
report(
    "image_full",
    {
        "ours_image_job": ours,
        "bare_wsclean_on_calibrated_ms": bare["calibrated"],
        "bare_wsclean_on_subtracted_copy": bare["subtracted"],
        "ours_over_bare_on_calibrated_ms": round(ours["wall_s"] / bare["calibrated"]["wall_s"], 3),
        "ours_over_bare_on_subtracted_copy": round(ours["wall_s"] / bare["subtracted"]["wall_s"], 3),
        "ours_breakdown_s": record["timing_s"],
        "image_size": record["image_size"],
        "verdict": record["verdict"],
        "rms_over_thermal": record["rms_over_thermal"],
    },
)
if args.keep:
    shutil.copytree(work / "ours", args.keep, dirs_exist_ok=True)
shutil.rmtree(work, ignore_errors=True)
