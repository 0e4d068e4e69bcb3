"""Snakemake script: one calibrator group -> caltables/{cal}/ (tables, qa.json, PNGs)."""

from pathlib import Path

from casatasks import casalog

from contimg import layout, runlog, sky
from contimg.calibration import model, solve

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
casalog.setlogfile(snakemake.log[0])  # noqa: F821 (CASA appends its messages to the job log)
group = snakemake.params.group  # noqa: F821
settings = snakemake.params.settings  # noqa: F821
ms = snakemake.input.ms  # noqa: F821
instrument = snakemake.params.instrument  # noqa: F821
dish = instrument["dish_diameter_m"]
sources = model.select_sources(
    sky.read_catalog(snakemake.input.calibrators), sky.read_catalog(snakemake.input.field),  # noqa: F821
    model.phase_centre(ms), model.mean_frequency(ms), dish,
    settings["model_min_apparent_flux_jy"], settings["model_radius_deg"],
)  # fmt: skip
record = solve.solve_group(
    Path(ms), Path(snakemake.output[0]), calibrator=group["calibrator"], model_sources=sources,  # noqa: F821
    pointing_dec_deg=float(group["pointing_dec_deg"]), site=layout.site_location(instrument["site"]),
    dish_m=dish, cal_cfg=settings, log=log,
)  # fmt: skip
log.info("calibration %s (%s): %s%s", record["calibration"], record["calibrator"], record["verdict"],
         "".join(f"\n  {r}" for r in record["reasons"]))  # fmt: skip
