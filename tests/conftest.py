"""Shared fixtures: the project's config and small simulated nights built from it."""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from contimg import config as cfgmod
from contimg import convert, settings, simulate, sky
from contimg import layout as layoutmod
from contimg.paths import Area

ROOT = Path(__file__).resolve().parents[1]
DEPLOYED = Area("work")  # product paths in a deployed copy of the project (the default paths.work)
RELATIVE = Area()  # product paths relative to a work area


def project_config(**sim_overrides) -> dict:
    """The validated project config with ``simulation`` keys overridden."""
    config = cfgmod.load(ROOT / "config/config.yaml", ROOT / "config/schema.yaml")
    config = copy.deepcopy(config)
    config["simulation"].update(sim_overrides)
    config["simulation"]["sky_catalog"] = str(ROOT / config["simulation"]["sky_catalog"])
    config["simulation"]["station_table"] = str(ROOT / config["simulation"]["station_table"])
    config["instrument"]["station_table"] = str(ROOT / config["instrument"]["station_table"])
    config["inventory"]["calibrator_catalog"] = str(ROOT / config["inventory"]["calibrator_catalog"])
    config["simulation"]["calibrator_catalog"] = str(ROOT / config["simulation"]["calibrator_catalog"])
    config["calibration"]["field_catalog"] = str(ROOT / config["calibration"]["field_catalog"])
    config["imaging"]["catalog"] = str(ROOT / config["imaging"]["catalog"])
    config["photometry"]["catalog"] = str(ROOT / config["photometry"]["catalog"])
    return cfgmod.validate(config, ROOT / "config/schema.yaml")


def calibrators(cfg: dict) -> sky.Catalog:
    """The calibrators a run with ``cfg`` uses (real ones, and the simulated night's)."""
    return sky.read_catalog(cfgmod.calibrator_files(cfg))


def simulate_night(out: Path, catalog: sky.Catalog | None = None, **sim_overrides):
    """Simulate a night into ``out/incoming`` and ``out/truth``; return (scene, files)."""
    config = project_config(**sim_overrides)
    layout = simulate.array_layout(config["simulation"], config["instrument"])
    catalog = catalog if catalog is not None else sky.read_catalog(config["simulation"]["sky_catalog"])
    own = config["simulation"]["calibrator_catalog"]
    calibrators = sky.read_catalog(own).names if own else []
    scene = simulate.build_scene(config["simulation"], config["instrument"], layout, catalog, calibrators)
    files = simulate.simulate_night(scene, out / "incoming", out / "truth")
    return scene, files


def demo_night(out: Path, n_groups: int, catalog: sky.Catalog | None = None, **overrides):
    """The first ``n_groups`` groups of the demo-scale night (no variable, no transient
    unless ``overrides`` say so); return (scene, files, config)."""
    cfg = project_config()
    scales = {**cfg["simulation"]["scales"]}
    scales["demo"] = {**scales["demo"], "n_groups": n_groups}
    sim = {"variable": None, "transient": None, **overrides}
    scene, files = simulate_night(out, catalog=catalog, scale="demo", scales=scales, **sim)
    return scene, files, cfg


# The same data written in the other legal forms of a UVH5 file (simulation.file_format)
FILE_FORMATS = {
    "zero-based numbers, correlator names": {"antenna_numbers": "zero_based", "antenna_names": "number"},
    "arbitrary numbers, pad names": {"antenna_numbers": "shuffled", "antenna_names": "pad"},
    "baseline-major rows": {"blt_order": "baseline"},
    "conjugated rows": {"conjugated_fraction": 0.5},
    "float64 uvw": {"uvw_dtype": "float64"},
    "ascending channels": {"channel_order": "ascending"},
    "four polarisations, conjugated rows": {"polarizations": 4, "conjugated_fraction": 0.5},
    "an ICRS centre per integration": {"phase_centre": "sidereal", "blt_order": "baseline"},
    "the DSA-110 correlator": {
        "antenna_numbers": "zero_based",
        "antenna_names": "number",
        "phase_centre": "legacy",
        "spw_axis": True,
        "polarizations": 4,
    },
    "another writer": {
        "antenna_numbers": "zero_based",
        "blt_order": "baseline",
        "uvw_dtype": "float64",
        "channel_order": "ascending",
        "phase_centre": "sidereal",
        "conjugated_fraction": 0.3,
    },
}
NOISE_ONLY = {"noise": True, "gains": False, "bandpass": False, "rfi": False}


def shifted_sky(catalog: sky.Catalog, ddec_deg: float) -> sky.Catalog:
    """``catalog`` moved ``ddec_deg`` in declination (right ascensions kept): the same sky
    drifting through the beam of an array pointed ``ddec_deg`` away."""
    return sky.Catalog(catalog.table.assign(dec_deg=catalog.table["dec_deg"] + ddec_deg))


def true_flux(scene, names, freq_hz) -> np.ndarray:
    """The simulated sky's flux density of ``names`` at ``freq_hz``."""
    truth = scene.sky.table.set_index("name")
    return (
        truth.loc[names, "flux_jy"] * (freq_hz / sky.REFERENCE_FREQ_HZ) ** truth.loc[names, "spectral_index"]
    ).to_numpy()


def assert_image_recovers_the_sky(record: dict, scene, sigmas: float = 3.0) -> None:
    """The image's catalogue sources against the truth: median flux of SNR > 20 sources within
    2 %, each within 5 % (or ``sigmas`` of the noise), offsets within 1/10 of the beam, the image
    passes its gate and samples its beam with at least 4 pixels across the minor axis."""
    import pandas as pd

    sources = pd.DataFrame(record["sources"])
    bright = sources[sources["snr"] > 20]
    assert len(bright) >= 8, len(bright)
    ratio = bright["flux_jy"] / true_flux(scene, bright["name"], record["frequency_hz"])
    assert abs(np.median(ratio) - 1) < 0.02, ratio.round(3).tolist()
    within = np.abs(ratio - 1) <= np.maximum(0.05, sigmas / bright["snr"])
    assert within.all(), list(zip(bright["name"], ratio.round(3), bright["snr"].round(1)))
    beam = np.sqrt(record["beam_arcsec"][0] * record["beam_arcsec"][1])
    assert (bright["offset_arcsec"] <= beam / 10).all(), bright["offset_arcsec"].tolist()
    assert record["verdict"] == "pass", record["reasons"]
    assert record["pixel_arcsec"] <= record["beam_arcsec"][1] / 4


def survey_fluxes(catalog: sky.Catalog, calibrators: sky.Catalog, seed: int) -> sky.Catalog:
    """``catalog`` with the fluxes of its field sources off by up to +-15 %, as a survey's are
    (the calibrators' stay right, as calibrators' are to a few per cent)."""
    rng = np.random.default_rng(seed)
    table = catalog.table.copy()
    field = ~table["name"].isin(calibrators.names)
    table.loc[field, "flux_jy"] *= rng.uniform(0.85, 1.15, int(field.sum()))
    return sky.Catalog(table)


def convert_group(files, group: int, out: Path, cfg: dict, **conv) -> Path:
    """Group ``group`` of ``files`` -> out/g{group}.ms (conversion settings overridden by ``conv``)."""
    ms = out / f"g{group}.ms"
    convert.convert_group(
        files[16 * group : 16 * (group + 1)],
        ms,
        out / f"g{group}.flags.json",
        layoutmod.layout_from_config(cfg["instrument"]),
        {**cfg["conversion"], **conv},
        cfg["instrument"]["sefd_jy"],
        f"g{group}",
    )
    return ms


def image_of(
    ms: Path, out: Path, cfg: dict, catalog: sky.Catalog | None = None, pointing_dec_deg: float | None = None, **img
) -> dict:
    """Image ``ms`` as rule image does into out/images/; ``catalog`` (default: the configured
    ones) is the whole sky; the pointing is the simulation's unless given. Returns the QA record."""
    from contimg.imaging import image, wsclean

    cals = calibrators(cfg) if catalog is None else catalog
    group = image.Group(
        {"calibration": "none (simulated without gains)", "calibrator": ""},
        cfg["simulation"]["pointing_dec_deg"] if pointing_dec_deg is None else pointing_dec_deg,
        layoutmod.site_location(cfg["instrument"]["site"]),
        4.65,
    )
    return image.image_group(
        ms,
        out / "images" / ms.stem,
        group,
        cals,
        catalog if catalog is not None else sky.read_catalog(cfg["imaging"]["catalog"]),
        typed_settings(cfg, "imaging", **img),
        wsclean.Job(2, 8.0),
    )


TYPED = {
    "imaging": settings.Imaging,
    "calibration": settings.Calibration,
    "photometry": settings.Photometry,
    "photometry.variability": settings.Variability,
}


def typed_settings(cfg: dict, section: str, **changes):
    """The typed settings of config ``section`` (contimg.settings; a dotted path for a
    subsection) with some keys changed, as the rules give it to their jobs."""
    node = cfg
    for part in section.split("."):
        node = node[part]
    values = {**node, **changes}
    return settings.from_section(
        TYPED[section], settings.group_photometry(values) if section == "photometry" else values, section
    )


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(path)`` at most once per test session, also when pytest-xdist runs the session
    in several workers: the first to ask builds it under a lock in the directory the workers
    share, the others wait for it and reuse it (tests/README.md). Returns the path."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-of-USER/pytest-N/, shared by the workers' gw0/, gw1/, ...
    path = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / f"{name}.built").exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(path)
            (base / f"{name}.built").touch()
    return path


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


# The workflow as users run it (tests/workflow/)

TINY_IMAGE_QA = {
    "max_rms_over_thermal": 100.0,
    "min_completeness": 0.0,
    "flux_ratio_min_jy": 0.0,
    "flux_ratio_range": [0.0, 100.0],
}
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def deploy(tmp_path: Path, calibration: dict | None = None, image_qa: dict | None = None, **sim) -> Path:
    """A working directory with its own config/ (as `snakedeploy` would make); images of
    1 deg (the plumbing is what the workflow tests check; tests/unit/test_imaging.py the images)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg_path = tmp_path / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["simulation"].update(sim)
    cfg["calibration"].update(calibration or {})
    cfg["imaging"]["qa"].update(image_qa or {})
    cfg["imaging"]["fov_deg"] = 1.0
    cfg_path.write_text(yaml.safe_dump(cfg))
    return tmp_path


def nvss_catalog(path: Path, ra_deg, dec_deg, peak_jy, major_deg=None) -> Path:
    """A survey file in the layout of the NVSS catalogue as NRAO distributes it (CATALOG.FIT's
    VL columns: degrees, Jy/beam, fitted axes in degrees; 45" beam), round unless ``major_deg``."""
    from astropy.table import Table

    n = len(ra_deg)
    beam = np.full(n, 45 / 3600)
    path.parent.mkdir(parents=True, exist_ok=True)
    Table(
        {
            "RA(2000)": ra_deg,
            "DEC(2000)": dec_deg,
            "PEAK INT": peak_jy,
            "MAJOR AX": beam if major_deg is None else major_deg,
            "MINOR AX": beam,
            "POSANGLE": np.zeros(n),
            "I RMS": np.full(n, 4.5e-4),
            "FIELD": ["C0900P56"] * n,
        }
    ).write(path, format="fits", overwrite=True)
    return path


def from_the_correlator(files, into: Path) -> Path:
    """Copies of simulated files in ``into`` whose history no longer says the simulator wrote
    them: real data, as far as the workflow can tell."""
    import h5py

    into.mkdir(parents=True, exist_ok=True)
    for path in files:
        copy = into / Path(path).name
        shutil.copy2(path, copy)
        with h5py.File(copy, "r+") as handle:
            del handle["Header/history"]
            handle["Header/history"] = np.bytes_("Written by the DSA-110 correlator")
    return into


def add_catalog_row(path: Path, row: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + "\n" + row + "\n")


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, timeout=600)


def job_counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """{rule: jobs} of the plan Snakemake printed ("Job stats:") before running."""
    lines = (result.stdout + result.stderr).splitlines()
    if "Job stats:" not in lines:
        return {}
    counts = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        rule, _, count = line.rpartition(" ")
        if rule.strip() in ("total", "") or not count.isdigit():
            break
        counts[rule.strip()] = int(count)
    return counts


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny night run through the whole workflow, as `make demo` does, once per session
    (never modified: copy it, `copied_run`, to change anything).

    16 antennas and 1-degree images are 14-28x the thermal noise (sidelobes of the sources
    outside): the image QA is opened wide so that every stage after it runs too."""

    def build(path: Path) -> None:
        workdir = deploy(path, scale="tiny", image_qa=TINY_IMAGE_QA)
        for step in (["inventory"], []):  # the inventory, then the night it plans
            result = run(workdir, *step)
            assert result.returncode == 0, result.stderr[-3000:]

    return built_once(tmp_path_factory, "tiny_run", build)


def assert_same_products(work: Path, reference: Path, partial: bool = False, extra: tuple[str, ...] = ()) -> None:
    """Every product of ``work`` equal to ``reference``'s (content digests, contimg.fingerprint),
    and no other (``partial``: those ``work`` has; ``extra``: products only ``work`` should have).

    Equal to the last float32 places where WSClean decides them: under load its inversion
    sums in another order (seen: 5e-7 of an image's peak), and its images, the QA records,
    thumbnails and index numbers computed from them may differ within
    `contimg.closeness.TOLERANCES`, as a release's verification allows; text, structure and
    every other product must be identical."""
    from contimg import closeness, fingerprint

    ours, theirs = fingerprint.products(work), fingerprint.products(reference)
    for path in extra:
        assert ours.pop(path), path
    if partial:
        ours = {p: d for p, d in ours.items() if not p.startswith("inventory/header_cache")}
        theirs = {p: theirs.get(p) for p in ours}
    assert set(ours) == set(theirs), sorted(set(ours) ^ set(theirs))
    for path in (p for p in ours if ours[p] != theirs[p]):
        assert closeness.within_tolerance(work / path, reference / path) is not None, f"{path} differs"


def copied_run(tiny_run: Path, into: Path) -> Path:
    """A private copy of the finished tiny night (Snakemake's metadata and every mtime kept:
    Snakemake sees it as finished) to change and run again."""
    shutil.copytree(tiny_run, into, symlinks=True)
    return into
