"""Snakemake script: write the simulated night (UVH5 files) and its truth."""

from pathlib import Path

from contimg import runlog, simulate, sky

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
params = snakemake.params
stations = simulate.array_layout(params.simulation, params.instrument)
calibrators = sky.read_catalog(snakemake.input.calibrators).names if snakemake.input.calibrators else []
scene = simulate.build_scene(
    params.simulation, params.instrument, stations, sky.read_catalog(snakemake.input.sky), calibrators
)
files = simulate.simulate_night(scene, Path(params.incoming), Path(snakemake.output.summary).parent)
log.info("wrote %d files of %d groups (scale %s)", len(files), len(scene.groups), params.simulation["scale"])
