"""Snakemake script: calibrated/{obs}.ms -> images/{obs}-*.fits, -qa.json, -thumb.png."""

import json
from pathlib import Path

from contimg import layout, runlog, sky
from contimg.imaging import image

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
instrument = snakemake.params.instrument  # noqa: F821
record = image.image_group(
    Path(snakemake.input.ms), Path(snakemake.params.prefix),  # noqa: F821
    calibration=json.loads(Path(snakemake.input.record).read_text()),  # noqa: F821
    pointing_dec_deg=snakemake.params.pointing_dec_deg,  # noqa: F821
    site=layout.site_location(instrument["site"]), dish_m=instrument["dish_diameter_m"],
    calibrators=sky.read_catalog(snakemake.input.calibrators), catalog=sky.read_catalog(snakemake.input.catalog),  # noqa: F821
    img_cfg=snakemake.params.settings, threads=snakemake.threads,  # noqa: F821
    mem_gb=0.8 * snakemake.resources.mem_mb / 1024, log_path=Path(snakemake.log[0]),  # noqa: F821
)  # fmt: skip
log.info("%s: %s; rms %.3f mJy (%.2f x thermal), %d sources, median flux ratio %s%s", record["obs"], record["verdict"],
         1e3 * record["rms_jy"], record["rms_over_thermal"], record["n_sources"], record["flux_ratio_median"],
         "".join(f"\n  {r}" for r in record["reasons"]))  # fmt: skip
