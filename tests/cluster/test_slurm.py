"""The workflow through a real one-node Slurm cluster (scripts/slurm_one_node.sh) with
profiles/cluster: every job but the local index goes through Slurm, and the products equal
those of the local run of the same night."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY_IMAGE_QA, deploy, run

SCRIPT = ROOT / "scripts/slurm_one_node.sh"
SLURMCTLD_LOG = Path("/var/log/slurm/slurmctld.log")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("apt-get"),
                                reason="the one-node cluster needs root and Debian's packages")  # fmt: skip


@pytest.fixture(scope="module")
def slurm():
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    yield
    subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120)


def cluster_profile(workdir: Path) -> Path:
    """profiles/cluster as it is, but without conda (the test machines have none: the set-up's
    .venv holds every environment), with the status checks of a cluster without slurmdbd, and
    keeping every job's Slurm log (the evidence that it ran there)."""
    profile = yaml.safe_load((ROOT / "profiles/cluster/config.yaml").read_text())
    assert profile.pop("software-deployment-method") == "conda"
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 1,
                    "latency-wait": 10, "slurm-keep-successful-logs": True})  # fmt: skip
    path = workdir / "profiles/cluster-test"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(profile))
    return path


def allocations() -> set[int]:
    """Ids of the jobs slurmctld has started so far (by the main scheduler or by backfill)."""
    text = SLURMCTLD_LOG.read_text() if SLURMCTLD_LOG.exists() else ""
    return {int(j) for j in re.findall(r"(?:sched: Allocate|backfill: _start_job: Started) JobId=(\d+)", text)}


@pytest.fixture(scope="module")
def cluster_run(slurm, tmp_path_factory):
    workdir = deploy(tmp_path_factory.mktemp("slurm"), scale="tiny", image_qa=TINY_IMAGE_QA)
    profile = cluster_profile(workdir)
    before = allocations()
    for step in (["inventory"], []):
        result = run(workdir, "--profile", str(profile), *step)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, allocations() - before


def test_every_job_but_the_index_ran_as_a_slurm_job(cluster_run):
    workdir, jobs = cluster_run
    logs = workdir / ".snakemake/slurm_logs"
    per_rule = {d.name.removeprefix("rule_"): len(list(d.rglob("*.log"))) for d in logs.iterdir() if d.is_dir()}
    expected = {"simulate_night": 1, "inventory": 1, "convert": 3, "calibration_plan": 1, "solve_calibration": 1,
                "apply_calibration": 3, "image": 3, "mosaic": 1, "photometry": 3, "lightcurves": 1}  # fmt: skip
    assert per_rule == expected
    assert len(jobs) == sum(expected.values())  # slurmctld allocated exactly these
    assert "index" not in per_rule and (workdir / "work/products.sqlite").exists()  # a localrule


def test_cluster_products_equal_the_local_run(cluster_run, tiny_run):
    cluster, local = cluster_run[0] / "work", tiny_run / "work"
    assert (cluster / "inventory/groups.csv").read_text() == (local / "inventory/groups.csv").read_text()
    groups = pd.read_csv(local / "inventory/groups.csv", dtype={"obs": str})["obs"]
    for obs in groups:
        for rel in (f"ms/{obs}.ms.flags.json", f"calibrated/{obs}.cal.json"):
            a, b = (json.loads((w / rel).read_text()) for w in (cluster, local))
            a.pop("timing_s", None), b.pop("timing_s", None)
            assert a == b, rel
        a, b = (json.loads((w / f"images/{obs}-qa.json").read_text()) for w in (cluster, local))
        assert a["verdict"] == b["verdict"] and a["rms_jy"] == pytest.approx(b["rms_jy"], rel=1e-3)
        a, b = (pd.read_parquet(w / f"photometry/{obs}.parquet") for w in (cluster, local))
        assert list(a["name"]) == list(b["name"])
        fluxes = [t["flux_jy"].astype(float) for t in (a, b)]
        assert np.allclose(*fluxes, rtol=1e-3, atol=1e-6, equal_nan=True)
    cal = groups[1]
    a, b = (json.loads((w / f"caltables/{cal}/qa.json").read_text()) for w in (cluster, local))
    assert a["verdict"] == b["verdict"] == "good"
    assert a["tables"]["gains"]["snr_median"] == pytest.approx(b["tables"]["gains"]["snr_median"], rel=1e-6)
