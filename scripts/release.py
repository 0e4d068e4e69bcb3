"""Snakemake script: every product -> release/{name}/MANIFEST (contimg.release), once."""

from pathlib import Path

from contimg import release, runlog

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
release.publish(
    snakemake.wildcards.name, snakemake.params.config, Path(snakemake.params.workdir), Path(snakemake.output[0]), log
)
