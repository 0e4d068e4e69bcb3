"""Executing a big run: Snakemake's own scheduling overhead with `--jobs 100` and instant jobs.

On the synthetic inventory of bench/plan_scale.py (a month by default), `snakemake --touch
--jobs 100` passes every job of the plan through the scheduler as a cluster run would, but
each job ends at once (its outputs do not exist, so nothing is touched or written): what is
left is the submit host's own CPU time (user + sys, /usr/bin/time) to plan, schedule and
retire the jobs.

- by night (planning.unit night): the whole month as the outer run sees it (a job per night
  plus the calibrations): what the submit host spends;
- one night's groups by group unit (a selection of one UTC date): what one night job's inner
  Snakemake spends on its compute node, times the number of nights;
- the baseline: the whole month by group unit (~35,000 jobs), stopped after --timeout s.

    .venv/bin/python bench/schedule_scale.py [--groups 8640] [--keep DIR] [--timeout 900]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plan_scale import make_area

from common import ROOT, report


def touch_run(area: Path, config: str, timeout: float) -> dict:
    """CPU and wall time of `snakemake --touch --jobs 100` with ``config``; None if over ``timeout``."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "CPU_S %U %S",
                sys.executable,
                "-P",
                "-m",
                "snakemake",
                "-s",
                str(ROOT / "Snakefile"),
                "--touch",
                "--jobs",
                "100",
                "--quiet",
                "--config",
                config,
            ],
            cwd=area,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"finished": False, "wall_s": round(time.perf_counter() - start, 1)}
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    user, system = (float(v) for v in done.stderr.rsplit("CPU_S", 1)[1].split())
    return {"finished": True, "wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(user + system, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=8640)
    parser.add_argument("--keep", type=Path, help="make the area here once and reuse it")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the group-unit baseline may take")
    args = parser.parse_args()
    area = args.keep or Path(tempfile.mkdtemp(prefix="schedule_scale_"))
    if not (area / "config").exists():
        make_area(area, args.groups)
    nights = round(args.groups * 309.0 / 86400.0)
    by_night = touch_run(area, "planning={unit: night}", args.timeout)
    one_night = touch_run(area, "planning={selection: {start: '2026-01-10', end: '2026-01-11'}}", args.timeout)
    by_group = touch_run(area, "planning={unit: group}", args.timeout)
    report(
        f"schedule_scale_{args.groups}",
        {
            "groups": args.groups,
            "jobs_limit": 100,
            "submit_host_by_night": by_night,
            "one_night_inner_run": one_night,
            "all_inner_runs_cpu_s": round(one_night["cpu_s"] * nights, 1) if one_night["finished"] else None,
            "baseline_by_group": by_group,
        },
    )


if __name__ == "__main__":
    main()
