"""Snakemake script: every night's gathered photometry -> lightcurves/ (metrics, candidates, plots)."""

from pathlib import Path

from contimg import runlog, settings
from contimg.photometry import lightcurves

smk = snakemake  # (snakemake injects this object)
log = runlog.setup(smk.log[0])
limits = settings.from_section(settings.Variability, smk.params.variability, "photometry.variability")
summary = lightcurves.build(
    [Path(p) for p in smk.input.forced],
    [Path(p) for p in smk.input.new_sources],
    Path(smk.output.sources).parent,
    limits,
    smk.threads,
)
log.info(
    "%d measurements of %d sources; variability candidates: %s; %d new-source candidates",
    summary["n_measurements"],
    summary["n_sources"],
    ", ".join(summary["variable"]) or "none",
    summary["n_new_sources"],
)
