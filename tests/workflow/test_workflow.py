"""The workflow as users run it: snakemake on a deployed config, lint, and config errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def deploy(tmp_path: Path, **sim) -> Path:
    """A working directory with its own config/ (as `snakedeploy` would make)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg_path = tmp_path / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["simulation"].update(sim)
    cfg_path.write_text(yaml.safe_dump(cfg))
    return tmp_path


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = deploy(tmp_path_factory.mktemp("wf"), scale="tiny")
    for step in (["inventory"], []):  # as `make demo`: the inventory, then the night it plans
        result = run(workdir, *step)
        assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_simulated_night_and_inventory_are_built(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    assert list(groups["status"]) == ["complete"] * 3
    assert (groups["calibrator"].fillna("") != "").sum() == 1
    assert len(list((tiny_run / "work/incoming").glob("*_sb??.hdf5"))) == 48
    for stage in ("simulate", "inventory"):
        assert list((tiny_run / f"work/benchmarks/{stage}").glob("*.tsv"))
        assert list((tiny_run / f"work/logs/{stage}").glob("*.log"))


def test_every_complete_group_has_a_flagged_ms(tiny_run):
    groups = pd.read_csv(tiny_run / "work/inventory/groups.csv")
    for obs in groups["obs"]:
        assert (tiny_run / f"work/ms/{obs}.ms/table.dat").exists()
        stats = json.loads((tiny_run / f"work/ms/{obs}.ms.flags.json").read_text())
        assert 0 < stats["fraction_flagged_cross"] < 0.2


def test_second_run_has_nothing_to_do(tiny_run):
    result = run(tiny_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_new_files_trigger_only_the_inventory(tmp_path):
    workdir = deploy(tmp_path, scale="tiny", enabled=False)
    incoming = workdir / "work/incoming"
    incoming.mkdir(parents=True)
    assert run(workdir).returncode == 0  # empty directory: an empty inventory
    assert pd.read_csv(workdir / "work/inventory/groups.csv").empty
    source = ROOT / "tests"  # any correlator-named file will do to change the listing
    (incoming / "2026-03-21T05:00:00_sb00.hdf5").write_bytes((source / "conftest.py").read_bytes())
    plan = run(workdir, "-n")
    assert "inventory" in plan.stdout and "Params have changed" in plan.stdout
    assert run(workdir).returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    assert list(groups["status"]) == ["unreadable"]


def test_a_group_found_bad_by_the_inventory_is_skipped(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    bad_obs, bad_file = groups["obs"][2], workdir / "work/incoming" / groups["sb07"][2]
    with open(bad_file, "r+b") as handle:  # damaged after the inventory saw it
        handle.truncate(bad_file.stat().st_size // 2)
    assert run(workdir, "inventory", "--forcerun", "inventory").returncode == 0  # a re-scan sees the damage
    result = run(workdir, "--keep-going")
    assert result.returncode == 0, result.stderr[-2000:]  # the bad group is skipped, not attempted
    assert not (workdir / f"work/ms/{bad_obs}.ms").exists()
    for obs in groups["obs"][:2]:
        assert (workdir / f"work/ms/{obs}.ms").exists()
    log = (workdir / "work/logs/inventory/inventory.log").read_text()
    assert bad_obs in log and bad_file.name in log and "truncated" in log


def test_a_group_that_fails_conversion_names_the_file(tmp_path):
    workdir = deploy(tmp_path, scale="tiny")
    assert run(workdir, "inventory").returncode == 0
    groups = pd.read_csv(workdir / "work/inventory/groups.csv")
    bad_obs, bad_file = groups["obs"][1], workdir / "work/incoming" / groups["sb03"][1]
    with open(bad_file, "r+b") as handle:
        handle.truncate(bad_file.stat().st_size // 2)
    result = run(workdir, "--keep-going")  # the inventory does not re-run: the damage is news to convert
    assert result.returncode != 0
    assert not (workdir / f"work/ms/{bad_obs}.ms").exists() and not list((workdir / "work/ms").glob(".*tmp"))
    assert all((workdir / f"work/ms/{obs}.ms").exists() for obs in groups["obs"] if obs != bad_obs)
    log = (workdir / f"work/logs/convert/{bad_obs}.log").read_text()
    assert bad_file.name in log


def test_config_error_stops_before_anything_runs(tmp_path):
    workdir = deploy(tmp_path, scale="huge")
    result = run(workdir, "-n")
    assert result.returncode != 0
    assert "config key 'simulation.scale': 'huge' is not one of" in result.stderr
    assert not (workdir / "work").exists()


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr
