"""SIGKILL in the middle of each stage, then `snakemake --unlock` and `--rerun-incomplete`:
the night completes with products identical to an uninterrupted run (content digests,
contimg.fingerprint), and nothing half-written is left behind."""

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import SNAKEMAKE, TINY_IMAGE_QA, assert_same_products, deploy, run

# (rule, what shows that one of its jobs is at work: a private copy or scratch directory
# it writes, or the job's log once the script has started)
STAGES = [
    ("convert", "ms/.*.ms.*.tmp"),
    ("solve_calibration", "caltables/.*.solving"),
    ("apply_calibration", "calibrated/.*.ms.*.tmp"),
    ("image", "images/.*.imaging"),
    ("photometry", "photometry/.*.photometry"),
    ("index", "logs/index/index.log"),
]


def kill_when(workdir: Path, evidence: str, timeout_s: float = 300) -> None:
    """Run the workflow and SIGKILL it (Snakemake and every job: a lost node) as soon as
    ``evidence`` (a glob under work/) exists."""
    log = open(workdir / "killed-runs.log", "a")
    process = subprocess.Popen(
        [*SNAKEMAKE, "--cores", "2", "--rerun-incomplete"],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while not list((workdir / "work").glob(evidence)):
        assert process.poll() is None, f"the run ended before {evidence} appeared"
        assert time.monotonic() < deadline, f"no {evidence} within {timeout_s} s"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.close()


def test_a_run_killed_in_every_stage_resumes_to_the_same_products(tmp_path, tiny_run):
    workdir = deploy(tmp_path, scale="tiny", image_qa=TINY_IMAGE_QA)
    assert run(workdir, "inventory").returncode == 0
    for stage, evidence in STAGES:
        kill_when(workdir, evidence)
        incomplete = list((workdir / ".snakemake/incomplete").iterdir())
        assert incomplete, f"killed in {stage}, but Snakemake recorded no job as incomplete"
        assert run(workdir, "--unlock").returncode == 0  # the killed run's lock
    result = run(workdir, "--rerun-incomplete")
    assert result.returncode == 0, result.stderr[-3000:]
    assert run(workdir, "-n").stdout.count("Nothing to be done") == 1
    work = workdir / "work"
    hidden = [p for p in work.rglob(".*") if p.name != ".snakemake_timestamp"]  # Snakemake's, in directory outputs
    assert not hidden, f"private copies left behind: {hidden}"
    assert_same_products(work, tiny_run / "work")
