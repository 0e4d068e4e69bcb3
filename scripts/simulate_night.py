"""Snakemake script: write the simulated night (UVH5 files) and its truth."""

from pathlib import Path

from contimg import layout, runlog, simulate, sky

log = runlog.setup(snakemake.log[0])  # noqa: F821 (snakemake injects this object)
cfg = snakemake.config  # noqa: F821
scene = simulate.build_scene(
    cfg["simulation"],
    cfg["instrument"],
    layout.layout_from_config(cfg["instrument"]),
    sky.read_catalog(cfg["simulation"]["sky_catalog"]),
)
files = simulate.simulate_night(scene, Path(cfg["paths"]["incoming"]), Path(snakemake.output.summary).parent)  # noqa: F821
log.info("wrote %d files of %d groups (scale %s)", len(files), len(scene.groups), cfg["simulation"]["scale"])
