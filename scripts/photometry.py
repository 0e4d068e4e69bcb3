"""Snakemake script: images/{obs}-* -> photometry/{obs}.parquet, -blind.parquet, .json."""

from pathlib import Path

from contimg import runlog, sky
from contimg.photometry import group

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
record = group.measure_group(
    Path(snakemake.params.image_prefix), Path(snakemake.output[0]).with_suffix(""),  # noqa: F821
    sky.read_catalog(snakemake.input.catalog), snakemake.params.pb_cut, snakemake.params.settings,  # noqa: F821
    snakemake.threads,  # noqa: F821
)  # fmt: skip
if record["measured"]:
    log.info("%s: %d forced (%d clean, noise factor %.2f), %d detections, %d matched, %d new-source candidates",
             record["obs"], record["n_forced"], record["n_forced_clean"], record["correlated_noise_factor"],
             record["n_detections"], record["n_matched"], record["n_new_sources"])  # fmt: skip
else:
    log.warning("%s: not measured: %s", record["obs"], record["reason"])
