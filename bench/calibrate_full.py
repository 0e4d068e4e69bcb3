"""Calibration of one full-size group (96 antennas, 768 channels, 24 integrations).

Measured in the same run, each in a fresh process (wall time and peak memory):
  - ours: `solve_calibration` as the workflow runs it (private copy, beam-attenuated model
    of calibrator + field sources predicted into MODEL_DATA, reference antenna from the
    data, three CASA passes: rflag after the first, the field model refitted after the first two; QA, plots), then `apply_calibration`
    (one CASA mstransform pass with a calibration library; native channels, not averaged);
  - baseline, the earlier DSA-110 pipeline's sequence: a private copy, CASA `ft` of a
    calibrator-only point-source component list, `bandpass` (solint inf), phase-only
    `gaincal` per integration, `applycal` into CORRECTED_DATA.

    .venv/bin/python bench/calibrate_full.py [--data DIR]   (DIR from bench/simulate_full.py --out)
"""

import shutil

from common import full_size_group, report, timed_child

work, files = full_size_group(__doc__.splitlines()[0], "calibrate_bench_")
ms = work / "group.ms"
SETUP = """
import sys; sys.path.insert(0, "tests")
from pathlib import Path
from conftest import project_config, typed_settings
from contimg import convert, layout, sky
cfg = project_config()
lay = layout.layout_from_config(cfg["instrument"])
"""
convert_run = timed_child(
    SETUP
    + f"""
convert.convert_group([Path(f) for f in {[str(f) for f in files]!r}], Path("{ms}"), Path("{work}/flags.json"), lay,
                      dict(cfg["conversion"], workers=2), 5800.0, "bench")
"""
)

OURS_SOLVE = (
    SETUP
    + f"""
from contimg.calibration import model, solve
cal = cfg["calibration"]
sources = model.select_sources(sky.read_catalog(cfg["inventory"]["calibrator_catalog"]),
                               sky.read_catalog(cal["field_catalog"]), model.phase_centre("{ms}"),
                               model.mean_frequency("{ms}"), 4.65, cal["model_min_apparent_flux_jy"], cal["model_radius_deg"])
record = solve.solve_group(Path("{ms}"), Path("{work}/caltables/cal"), calibrator="SIM CAL J0907+5440",
                           model_sources=sources, pointing_dec_deg=54.57, site=lay.site, dish_m=4.65,
                           settings=typed_settings(cfg, "calibration"))
assert record["verdict"] == "good", record["reasons"]
print("TIMING", record["timing_s"])
"""
)
OURS_APPLY = (
    SETUP
    + f"""
from contimg.calibration import apply
apply.apply_calibration(Path("{ms}"), Path("{work}/calibrated.ms"), Path("{work}/calibrated.json"),
                        [Path("{work}/caltables/cal")])
"""
)
BASELINE = f"""
import shutil
from casatasks import applycal, bandpass, ft, gaincal
from casatools import componentlist
shutil.copytree("{ms}", "{work}/old.ms")
cl = componentlist()
cl.addcomponent(dir="J2000 136.90588deg 54.67586deg", flux=15.0, fluxunit="Jy", freq="1.4GHz", shape="point",
                spectrumtype="spectral index", index=-0.6)
cl.rename("{work}/cal.cl"); cl.close()
ft(vis="{work}/old.ms", complist="{work}/cal.cl", usescratch=True)
bandpass(vis="{work}/old.ms", caltable="{work}/old.b", solint="inf", refant="54", minsnr=3)
gaincal(vis="{work}/old.ms", caltable="{work}/old.g", solint="int", calmode="p", refant="54", gaintable=["{work}/old.b"])
applycal(vis="{work}/old.ms", gaintable=["{work}/old.b", "{work}/old.g"], calwt=False, flagbackup=False)
"""
ours_solve = timed_child(OURS_SOLVE)
ours_apply = timed_child(OURS_APPLY)
baseline = timed_child(BASELINE)
ours_total = ours_solve["wall_s"] + ours_apply["wall_s"]
report(
    "calibrate_full",
    {
        "convert_with_aoflagger": convert_run,
        "ours_solve": ours_solve,
        "ours_apply": ours_apply,
        "baseline_old_pipeline_sequence": baseline,
        "ours_solve_plus_apply_over_baseline": round(ours_total / baseline["wall_s"], 2),
        "ours_apply_share_of_baseline": round(ours_apply["wall_s"] / baseline["wall_s"], 2),
    },
)
shutil.rmtree(work, ignore_errors=True)
