"""Snakemake script: calibrated/{obs}.ms -> images/{obs}-*.fits, -qa.json, -thumb.png."""

import json
from pathlib import Path

from contimg import layout, runlog, settings, sky
from contimg.imaging import image, wsclean

smk = snakemake  # (snakemake injects this object)
log = runlog.setup(smk.log[0])
group = image.Group(
    json.loads(Path(smk.input.record).read_text()),
    smk.params.pointing_dec_deg,
    layout.site_location(smk.params.instrument["site"]),
    smk.params.instrument["dish_diameter_m"],
)
record = image.image_group(
    Path(smk.input.ms),
    Path(smk.params.prefix),
    group,
    sky.read_catalog(smk.input.calibrators),
    sky.read_catalog(smk.input.catalog),
    settings.from_section(settings.Imaging, smk.params.settings, "imaging"),
    wsclean.Job(smk.threads, 0.8 * smk.resources.mem_mb / 1024, Path(smk.log[0])),
)
log.info(
    "%s: %s; rms %.3f mJy (%.2f x thermal), %d sources, median flux ratio %s%s",
    record["obs"],
    record["verdict"],
    1e3 * record["rms_jy"],
    record["rms_over_thermal"],
    record["n_sources"],
    record["flux_ratio_median"],
    "".join(f"\n  {r}" for r in record["reasons"]),
)
