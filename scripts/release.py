"""Snakemake script: every product -> release/{name}/MANIFEST (contimg.release), once."""

from pathlib import Path

from contimg import release, runlog

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
release.publish(snakemake.wildcards.name, snakemake.params.config, Path(snakemake.params.workdir),  # noqa: F821
                Path(snakemake.output[0]), log)  # noqa: F821  # fmt: skip
