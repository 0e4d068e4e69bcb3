"""Snakemake script: every group's photometry -> lightcurves/ (metrics, candidates, plots)."""

from pathlib import Path

from contimg import runlog
from contimg.photometry import lightcurves

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
summary = lightcurves.build([Path(p) for p in snakemake.params.forced], [Path(p) for p in snakemake.params.blind],  # noqa: F821
                            Path(snakemake.output.sources).parent, snakemake.params.variability)  # noqa: F821 # fmt: skip
log.info("%d measurements of %d sources; variability candidates: %s; %d new-source candidates",
         summary["n_measurements"], summary["n_sources"], ", ".join(summary["variable"]) or "none",
         summary["n_new_sources"])  # fmt: skip
