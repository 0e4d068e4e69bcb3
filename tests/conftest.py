"""Shared fixtures: the project's config and small simulated nights built from it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from contimg import config as cfgmod
from contimg import layout as layoutmod
from contimg import simulate, sky

ROOT = Path(__file__).resolve().parents[1]


def project_config(**sim_overrides) -> dict:
    """The validated project config with ``simulation`` keys overridden."""
    config = cfgmod.load(ROOT / "config/config.yaml", ROOT / "config/schema.yaml")
    config = copy.deepcopy(config)
    config["simulation"].update(sim_overrides)
    config["simulation"]["sky_catalog"] = str(ROOT / config["simulation"]["sky_catalog"])
    config["inventory"]["calibrator_catalog"] = str(ROOT / config["inventory"]["calibrator_catalog"])
    config["calibration"]["field_catalog"] = str(ROOT / config["calibration"]["field_catalog"])
    config["imaging"]["catalog"] = str(ROOT / config["imaging"]["catalog"])
    return cfgmod.validate(config, ROOT / "config/schema.yaml")


def simulate_night(out: Path, catalog: sky.Catalog | None = None, **sim_overrides):
    """Simulate a night into ``out/incoming`` and ``out/truth``; return (scene, files)."""
    config = project_config(**sim_overrides)
    layout = layoutmod.layout_from_config(config["instrument"])
    catalog = catalog if catalog is not None else sky.read_catalog(config["simulation"]["sky_catalog"])
    scene = simulate.build_scene(config["simulation"], config["instrument"], layout, catalog)
    files = simulate.simulate_night(scene, out / "incoming", out / "truth")
    return scene, files


@pytest.fixture(scope="session")
def tiny_night(tmp_path_factory):
    """The default sky at the tiny scale, with every corruption on."""
    out = tmp_path_factory.mktemp("tiny_night")
    scene, files = simulate_night(out, scale="tiny")
    return out, scene, files


@pytest.fixture(scope="session")
def clean_night(tmp_path_factory):
    """The default sky at the tiny scale without noise, gains, bandpass or RFI."""
    out = tmp_path_factory.mktemp("clean_night")
    scene, files = simulate_night(
        out, scale="tiny", corruptions={"noise": False, "gains": False, "bandpass": False, "rfi": False}
    )
    return out, scene, files
