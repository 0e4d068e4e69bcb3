"""Snakemake script: one group of subband files -> flagged Measurement Set + flag statistics."""

from pathlib import Path

from contimg import convert, layout, quarantine, runlog

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
instrument = snakemake.params.instrument
paths = [Path(p) for p in snakemake.input.files]
try:
    summary = convert.convert_group(
        paths=paths,
        ms_path=Path(snakemake.output.ms),
        flags_json=Path(snakemake.output.flags),
        layout=layout.layout_from_config(instrument),
        conv_cfg={**snakemake.params.settings, "workers": snakemake.threads},
        sefd_jy=instrument["sefd_jy"],
        name=snakemake.wildcards.obs,
        dish_diameter_m=instrument["dish_diameter_m"],
    )
except convert.ConversionError as err:  # the data, not the machine: the next run skips the group
    record = quarantine.record(snakemake.params.quarantine, snakemake.wildcards.obs, "convert", paths, err)
    log.error("%s; recorded in %s: the next inventory marks the group failed", err, record)
    raise
log.info(
    "wrote %s: %.2f%% of cross-correlations flagged; timing %s",
    snakemake.output.ms,
    100 * summary["fraction_flagged_cross"],
    summary["timing_s"],
)
