"""Snakemake script: one calibrator group -> caltables/{cal}/ (tables, qa.json, PNGs)."""

from pathlib import Path

from casatasks import casalog

from contimg import layout, runlog, settings, sky
from contimg.calibration import model, solve

smk = snakemake  # (snakemake injects this object)
log = runlog.setup(smk.log[0])
casalog.setlogfile(smk.log[0])  # CASA appends its messages to the job log
group, ms, instrument = smk.params.group, smk.input.ms, smk.params.instrument
calibration = settings.from_section(settings.Calibration, smk.params.settings, "calibration")
dish = instrument["dish_diameter_m"]
sources = model.select_sources(
    sky.read_catalog(smk.input.calibrators),
    sky.read_catalog(smk.input.field),
    model.phase_centre(ms),
    model.mean_frequency(ms),
    dish,
    calibration.model_min_apparent_flux_jy,
    calibration.model_radius_deg,
)
record = solve.solve_group(
    Path(ms),
    Path(smk.output[0]),
    calibrator=group["calibrator"],
    model_sources=sources,
    pointing_dec_deg=float(group["pointing_dec_deg"]),
    site=layout.site_location(instrument["site"]),
    dish_m=dish,
    settings=calibration,
    log=log,
)
log.info(
    "calibration %s (%s): %s%s",
    record["calibration"],
    record["calibrator"],
    record["verdict"],
    "".join(f"\n  {r}" for r in record["reasons"]),
)
