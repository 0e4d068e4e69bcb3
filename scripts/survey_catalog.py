"""Snakemake script: the survey's catalogue files -> the workflow's catalogue of one declination strip."""

from contimg import runlog, surveys

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
settings = snakemake.params.settings
try:
    kept = surveys.make(
        settings["format"],
        list(snakemake.input),
        snakemake.output[0],
        [snakemake.params.dec_deg],
        settings["radius_deg"],
        settings["min_flux_jy"],
        settings["spectral_index"],
        settings["frequency_hz"],
        settings["flux_scale"],
    )
except surveys.SurveyError as err:
    log.error("survey.files: %s", err)
    raise SystemExit(1) from None
log.info("%s: %d %s sources", snakemake.output[0], len(kept), settings["format"])
