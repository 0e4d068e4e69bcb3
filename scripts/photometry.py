"""Snakemake script: images/{obs}-* -> photometry/{obs}.parquet, -blind.parquet, .json."""

import os
from pathlib import Path

# AegeanTools' numba functions as plain numpy, as in envs/photometry.yaml (no numba there):
# numba compiled them afresh in every job, 2.4 s of a full-size group's 16 s, and won
# nothing back (BANE 5.4 s instead of 6.5, aegean 2.0 instead of 4.1). Set here, in the
# job's own process, before anything imports numba: not in the package, where it would
# reach every numba user of a process that imports it (pyuvdata's, in the tests).
os.environ["NUMBA_DISABLE_JIT"] = "1"

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
