"""Snakemake script: images/{obs}-* -> photometry/{obs}.parquet, -blind.parquet, .json."""

from pathlib import Path

from contimg import runlog, settings, sky
from contimg.photometry import group

smk = snakemake  # (snakemake injects this object)
log = runlog.setup(smk.log[0])
record = group.measure_group(
    Path(smk.params.image_prefix),
    Path(smk.output[0]).with_suffix(""),
    sky.read_catalog(smk.input.catalog),
    smk.params.pb_cut,
    settings.from_section(settings.Photometry, smk.params.settings, "photometry"),
    smk.threads,
    smk.params.instrument["dish_diameter_m"],
)
if record["measured"]:
    log.info(
        "%s: %d forced (%d clean, noise factor %.2f), %d detections, %d matched, %d new-source candidates",
        record["obs"],
        record["n_forced"],
        record["n_forced_clean"],
        record["correlated_noise_factor"],
        record["n_detections"],
        record["n_matched"],
        record["n_new_sources"],
    )
else:
    log.warning("%s: not measured: %s", record["obs"], record["reason"])
