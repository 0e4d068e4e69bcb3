"""A night job (planning.unit: night): the night's groups through the workflow's own rules, run
by an inner Snakemake on the job's cores and memory.

The outer run plans one job per night, so a year is ~1,000 jobs to plan and schedule instead of
~400,000; inside the job Snakemake plans only that night's ~1,200 group jobs, re-runs what is
missing or outdated there (its own metadata, shared with group-unit runs of the same work
area) and keeps going past a failed group. The job fails if any of its targets is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml


def deployment_args(environ: dict) -> list[str]:
    """Inner jobs deploy their software like this job: in a Snakemake-made conda environment
    (CONDA_PREFIX, under the outer run's conda prefix) the inner run uses conda there too."""
    prefix = environ.get("CONDA_PREFIX")
    if not prefix:
        return []
    return ["--software-deployment-method", "conda", "--conda-prefix", str(Path(prefix).parent)]


def inner_command(
    snakefile: str, configfile: Path, cores: int, mem_mb: int, targets: list[str], environ: dict
) -> list[str]:
    """The inner Snakemake: no lock (the outer run holds the directory's), no profile, the
    job's own cores and memory, keep going past a failed group."""
    # -P: the working directory stays off sys.path (Snakemake's plugin search would list every
    # directory there, e.g. an incoming/ of a million files); options taking several values
    # first: the plain flags before the targets end their lists
    return [
        sys.executable,
        "-P",
        "-m",
        "snakemake",
        "--snakefile",
        snakefile,
        "--workflow-profile",
        "none",
        "--configfile",
        str(configfile),
        *deployment_args(environ),
        "--resources",
        f"mem_mb={mem_mb}",
        "--cores",
        str(cores),
        "--nolock",
        "--keep-going",
        "--rerun-incomplete",
        *targets,
    ]


# The inner run makes the targets it is given: by group, whatever the outer run's planning
INNER_PLANNING = {
    "unit": "group",
    "selection": {"start": None, "end": None, "dec_min_deg": None, "dec_max_deg": None, "status": "all"},
}


def run(
    night: str,
    settings: dict,
    snakefile: str,
    targets: list[str],
    cores: int,
    mem_mb: int,
    log_path: Path,
    record: Path,
) -> dict:
    """Run the night's ``targets`` with the outer run's ``settings`` (its config but for
    planning and the index; written beside the log, so `--config` overrides of the outer run
    hold inside too); write and return the record."""
    configfile = log_path.with_suffix(".config.yaml")
    configfile.write_text(yaml.safe_dump({**settings, "planning": INNER_PLANNING}, sort_keys=False))
    command = inner_command(snakefile, configfile, cores, mem_mb, targets, dict(os.environ))
    start = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"inner run of {len(targets)} targets: {' '.join(command[: len(command) - len(targets)])}\n")
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    missing = [t for t in targets if not os.path.exists(t)]
    if done.returncode != 0 or missing:
        raise RuntimeError(
            f"night {night}: the inner run exited {done.returncode} with {len(missing)} of "
            f"{len(targets)} products missing (first: {missing[:3]}); see {log_path}"
        )
    summary = {
        "night": night,
        "n_targets": len(targets),
        "targets": targets,
        "timing_s": {"inner_run": round(time.perf_counter() - start, 1)},
    }
    record.write_text(json.dumps(summary, indent=1) + "\n")
    return summary
