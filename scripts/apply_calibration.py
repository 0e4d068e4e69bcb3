"""Snakemake script: ms/{obs}.ms + the first good candidate calibration -> calibrated/{obs}.ms
(channels averaged to imaging.average_channels_to_hz)."""

from pathlib import Path

from casatasks import casalog

from contimg import runlog
from contimg.calibration import apply

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
casalog.setlogfile(snakemake.log[0])  # (CASA appends its messages to the job log)
apply.apply_calibration(
    Path(snakemake.input.ms),
    Path(snakemake.output.ms),
    Path(snakemake.output.record),
    candidates=[Path(p) for p in snakemake.input.caltables],
    average_to_hz=snakemake.params.average_channels_to_hz,
    log=log,
)
