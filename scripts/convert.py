"""Snakemake script: one group of subband files -> flagged Measurement Set + flag statistics."""

from pathlib import Path

from contimg import convert, layout, runlog

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
cfg = snakemake.config  # noqa: F821
summary = convert.convert_group(
    paths=[Path(p) for p in snakemake.input.files],  # noqa: F821
    ms_path=Path(snakemake.output.ms),  # noqa: F821
    flags_json=Path(snakemake.output.flags),  # noqa: F821
    layout=layout.layout_from_config(cfg["instrument"]),
    conv_cfg={**cfg["conversion"], "workers": snakemake.threads},  # noqa: F821
    sefd_jy=cfg["instrument"]["sefd_jy"],
    name=snakemake.wildcards.obs,  # noqa: F821
)
log.info("wrote %s: %.2f%% of cross-correlations flagged; timing %s",
         snakemake.output.ms, 100 * summary["fraction_flagged_cross"], summary["timing_s"])  # noqa: F821
