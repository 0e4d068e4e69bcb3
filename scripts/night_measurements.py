"""Snakemake script: a night's photometry tables -> lightcurves/nights/{night}.parquet (and its new sources)."""

from pathlib import Path

from contimg import runlog
from contimg.photometry import lightcurves

smk = snakemake  # (snakemake injects this object)
log = runlog.setup(smk.log[0])
n, fraction = lightcurves.gather(
    [Path(p) for p in smk.params.forced],
    [Path(p) for p in smk.params.blind],
    Path(smk.output.forced),
    Path(smk.output.new_sources),
)
log.info(
    "%d measurements of %d groups gathered; the night's flux-scale systematic: %.4f of the flux",
    n,
    len(smk.params.forced),
    fraction,
)
