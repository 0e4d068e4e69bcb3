"""The workflow through a real one-node Slurm cluster (scripts/slurm_one_node.sh) with
profiles/cluster: every job but the local index goes through Slurm and loads its rules'
software as environment modules (Lmod, envs/modules); one image job killed by Slurm mid-run
(scancel) is resubmitted with twice its time and memory and the run finishes (a group's
image and photometry run as one Slurm job: the profile's `groups`); the products equal
those of the local run of the same night (content digests)."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, TINY_IMAGE_QA, assert_same_products, deploy, run

SCRIPT = ROOT / "scripts/slurm_one_node.sh"
SLURMCTLD_LOG = Path("/var/log/slurm/slurmctld.log")
# where the jobs find the rules' modules, and `module` in Slurm's non-interactive bash (a
# cluster's login environment does this; docs/user_guide.md, "Software on a cluster")
MODULES = {"MODULEPATH": str(ROOT / "envs/modules"), "BASH_ENV": "/usr/share/lmod/lmod/init/bash"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("apt-get"), reason="the one-node cluster needs root and Debian's packages"
)


@pytest.fixture(scope="module")
def slurm():
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    yield
    subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120)


def cluster_profile(workdir: Path) -> Path:
    """profiles/cluster as it is, but with the rules' software as environment modules instead
    of conda (the test machines have no conda; Debian has Lmod), with the status checks of a
    cluster without slurmdbd, and keeping every job's Slurm log (the evidence that it ran there)."""
    profile = yaml.safe_load((ROOT / "profiles/cluster/config.yaml").read_text())
    assert profile["software-deployment-method"] == "conda"
    profile.update(
        {
            "software-deployment-method": "env-modules",
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 1,
            "latency-wait": 10,
            "slurm-keep-successful-logs": True,
        }
    )
    path = workdir / "profiles/cluster-test"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(profile))
    return path


def allocations() -> set[int]:
    """Ids of the jobs slurmctld has started so far (by the main scheduler or by backfill)."""
    text = SLURMCTLD_LOG.read_text() if SLURMCTLD_LOG.exists() else ""
    return {int(j) for j in re.findall(r"(?:sched: Allocate|backfill: _start_job: Started) JobId=(\d+)", text)}


def slurm_jobs(*fields: str) -> list[dict]:
    """Every job slurmctld still knows (MinJobAge keeps finished ones 10 minutes)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True).stdout
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]
    return [{f: job.get(f, "") for f in fields} for job in jobs]


def run_and_cancel_one_image_job(workdir: Path, profile: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Run the night through Slurm and scancel the first image job seen running (as Slurm
    does at a time limit or a node failure); return the run and the cancelled job's id."""
    process = subprocess.Popen(
        [*SNAKEMAKE, "--profile", str(profile)],
        cwd=workdir,
        env={**os.environ, **MODULES},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cancelled = ""
    deadline = time.monotonic() + 900
    while process.poll() is None and time.monotonic() < deadline:
        if not cancelled:
            for job in slurm_jobs("JobId", "Comment", "JobState"):
                if job["Comment"].startswith("rule_image_") and job["JobState"] == "RUNNING":
                    time.sleep(1)  # let it get into its work
                    subprocess.run(["scancel", job["JobId"]], check=True)
                    cancelled = job["JobId"]
                    break
        time.sleep(0.2)
    output = process.communicate(timeout=60)[0]
    return subprocess.CompletedProcess(process.args, process.returncode, output, ""), cancelled


@pytest.fixture(scope="module")
def cluster_run(slurm, tmp_path_factory):
    workdir = deploy(tmp_path_factory.mktemp("slurm"), scale="tiny", image_qa=TINY_IMAGE_QA)
    profile = cluster_profile(workdir)
    before = allocations()
    with pytest.MonkeyPatch.context() as env:
        for name, value in MODULES.items():
            env.setenv(name, value)
        inventory = run(workdir, "--profile", str(profile), "inventory")
    assert inventory.returncode == 0, inventory.stdout[-3000:] + inventory.stderr[-3000:]
    night, cancelled = run_and_cancel_one_image_job(workdir, profile)
    assert night.returncode == 0, night.stdout[-5000:]
    assert cancelled, "no image job was seen running"
    return workdir, allocations() - before, night, cancelled


def test_every_job_but_the_index_ran_as_a_slurm_job(cluster_run):
    workdir, jobs, *_ = cluster_run
    logs = workdir / ".snakemake/slurm_logs"
    per_rule = {d.name.removeprefix("rule_"): len(list(d.rglob("*.log"))) for d in logs.iterdir() if d.is_dir()}
    expected = {
        "simulate_night": 1,
        "inventory": 1,
        "convert": 3,
        "calibration_plan": 1,
        "solve_calibration": 1,
        "apply_calibration": 3,
        "mosaic": 1,
        "night_measurements": 1,
        "lightcurves": 1,
        "group_image_and_photometry_image_photometry": 3 + 1,
    }
    assert per_rule == expected  # a group's image + photometry: one Slurm job (and the cancelled one's retry)
    assert len(jobs) == sum(expected.values())  # slurmctld allocated exactly these
    assert "index" not in per_rule and (workdir / "work/products.sqlite").exists()  # a localrule


def test_every_job_loaded_its_rules_software_as_modules(cluster_run):
    """Each Slurm job's log shows Lmod loading the module its rule names (envmodules:), and
    only those: the group job of image + photometry loads both families."""
    workdir, *_ = cluster_run
    families = {
        "simulate_night": {"simulation"},
        "inventory": {"inventory"},
        "convert": {"conversion"},
        "calibration_plan": {"calibration"},
        "solve_calibration": {"calibration"},
        "apply_calibration": {"calibration"},
        "mosaic": {"imaging"},
        "night_measurements": {"photometry"},
        "lightcurves": {"photometry"},
        "group_image_and_photometry_image_photometry": {"imaging", "photometry"},
    }
    for rule_dir in (workdir / ".snakemake/slurm_logs").iterdir():
        for log in rule_dir.rglob("*.log"):
            text = log.read_text()
            loaded = set(re.findall(r"contimg/(\w+) loaded: (\S+)", text))
            if "CANCELLED" in text:  # the image job killed mid-run (its log may end before the module's line)
                assert {family for family, _ in loaded} <= {"imaging"}, log
                continue
            assert {family for family, _ in loaded} == families[rule_dir.name.removeprefix("rule_")], log
            assert {python for _, python in loaded} == {str(ROOT / ".venv/bin/python")}


def test_a_job_killed_by_slurm_is_resubmitted_with_twice_the_resources(cluster_run):
    workdir, ours, night, cancelled = cluster_run
    # the executor's status check or the job's Slurm log (show-failed-logs), whichever saw it first
    seen = rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'|JOB {cancelled} ON \S+ CANCELLED"
    assert re.search(seen, night.stdout)
    jobs = [
        j for j in slurm_jobs("JobId", "Comment", "JobState", "TimeLimit", "MinMemoryNode") if int(j["JobId"]) in ours
    ]
    first = next(j for j in jobs if j["JobId"] == cancelled)
    # image + photometry of one group in one job: 10 + 5 min, the larger of 8000 and 4000 MB
    assert (first["TimeLimit"], first["MinMemoryNode"]) == ("00:15:00", "8000M")
    doubled = ("00:30:00", "16000M")
    retried = [j for j in jobs if j["Comment"] == first["Comment"] and (j["TimeLimit"], j["MinMemoryNode"]) == doubled]
    assert len(retried) == 1 and retried[0]["JobState"] == "COMPLETED" and int(retried[0]["JobId"]) > int(cancelled)
    assert run(workdir, "--rerun-incomplete", "-n").stdout.count("Nothing to be done") == 1


def test_cluster_products_equal_the_local_run(cluster_run, tiny_run):
    assert_same_products(cluster_run[0] / "work", tiny_run / "work")
