"""Snakemake script: the passing images of one hour -> mosaics/{hour}.fits (+ weight, residual,
record, and a picture marking its catalogue sources and the groups' new-source candidates)."""

from pathlib import Path

from contimg import runlog
from contimg.imaging import mosaic

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
record = mosaic.make_mosaic(
    [Path(p) for p in snakemake.params.prefixes],
    Path(snakemake.output[0]).with_suffix(""),
    snakemake.params.pb_cut,
    snakemake.input.photometry,
    snakemake.threads,
)
for skipped in record["excluded"]:
    log.warning("%s: image %s left out: %s", record["mosaic"], skipped["obs"], "; ".join(skipped["reasons"]))
if record["included"]:
    log.info(
        "%s: %d images, expected noise %.3f mJy/beam at best, %.3f median",
        record["mosaic"],
        len(record["included"]),
        1e3 * record["effective_noise_jy"],
        1e3 * record["median_noise_jy"],
    )
else:
    log.warning("%s: no image passed its QA; the mosaic is blank", record["mosaic"])
