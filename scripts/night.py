"""Snakemake script: one night's groups through the workflow's rules, in an inner Snakemake."""

from pathlib import Path

from contimg import nightjob

smk = snakemake  # (snakemake injects this object)
nightjob.run(
    smk.wildcards.night,
    smk.params.settings,
    smk.params.snakefile,
    list(smk.params.targets),
    smk.threads,
    smk.resources.mem_mb,
    Path(smk.log[0]),
    Path(smk.output[0]),
)
