"""The workflow as users run it: snakemake on a deployed config, lint, and config errors."""

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
    result = run(workdir)
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


def test_config_error_stops_before_anything_runs(tmp_path):
    workdir = deploy(tmp_path, scale="huge")
    result = run(workdir, "-n")
    assert result.returncode != 0
    assert "config key 'simulation.scale': 'huge' is not one of" in result.stderr
    assert not (workdir / "work").exists()


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr
