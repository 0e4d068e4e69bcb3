"""One full-size group end to end, against the 309 s in which the telescope writes the next one.

A full-size night fragment (96 antennas, 16 x 48 channels, 24 integrations; a calibrator
group and the target group after it) is simulated and its calibration solved once (not
timed; `--work DIR` keeps and reuses them). Then, in the same run:
  - ours: `snakemake` on the target group's photometry, as users run it: convert (with
    AOFlagger), apply the existing calibration, image (with QA and primary beam), photometry.
    Wall time of the whole invocation (DAG, job start-up included) and of each job, from the
    jobs' `benchmark:` records (peak memory: the job's whole process tree);
  - the naive way, each stage in a fresh process: pyuvdata read of the 16 files + phase +
    `write_ms`; `aoflagger` with its default strategy on that MS; CASA `applycal` on a copy of
    the group's MS with the same tables; WSClean with the earlier pipeline's parameters
    (4096^2 x 3", Briggs 0, niter 10000, auto-mask 3, auto-threshold 0.5, mgain 0.8) on it.
    The earlier pipeline had no photometry stage worth timing here: none is run.
Ours' image QA (rms over thermal, beam, flux ratio, astrometry) is kept beside the times, so a
speed lever's effect on the image is seen in the same record. The last line is the headline;
exit 1 when ours is slower than real time or (naive chain run) more than half the naive chain.

    bench/realtime [--work DIR] [--no-naive] [--baseline-averaging-s S] [--average-channels-to-hz HZ]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from common import ROOT, naive_conversion, report, timed_child

REALTIME_S = 309.0  # one group of 24 x 12.88 s integrations
GOAL_OF_NAIVE = 0.5  # issue 26: ours at most half the naive chain, measured in the same run
STAGES = ("convert", "apply_calibration", "image", "photometry")
NAIVE_WSCLEAN = [
    "-size",
    "4096",
    "4096",
    "-scale",
    "3asec",
    "-weight",
    "briggs",
    "0",
    "-niter",
    "10000",
    "-mgain",
    "0.8",
    "-auto-mask",
    "3",
    "-auto-threshold",
    "0.5",
    "-j",
    "2",
]


def snakemake(work: Path, *args: str) -> float:
    """Run the workflow in ``work`` on 2 cores; its wall time (s)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args, "--cores", "2", "--quiet", "rules"],
        cwd=work,
        check=True,
    )
    return time.perf_counter() - start


def deploy(work: Path) -> None:
    """``work``/config/: the project's config at the full scale (a calibrator group, a target
    group), afresh on every run (a kept work area then has today's settings and schema)."""
    shutil.copytree(ROOT / "config", work / "config", dirs_exist_ok=True)
    cfg_path = work / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["simulation"]["scale"] = "full"
    cfg["simulation"]["scales"]["full"]["n_groups"] = 2
    cfg_path.write_text(yaml.safe_dump(cfg))


def set_imaging(work: Path, options: dict) -> dict:
    """``work``'s imaging section: the project's, with ``options`` that are not None; returned."""
    cfg_path = work / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    project = yaml.safe_load((ROOT / "config/config.yaml").read_text())["imaging"]
    cfg["imaging"] = {**project, **{key: value for key, value in options.items() if value is not None}}
    cfg_path.write_text(yaml.safe_dump(cfg))
    return cfg["imaging"]


def image_qa(work: Path, obs: str) -> dict:
    """What the image QA measured (rms over thermal, beam, flux ratio, astrometry, verdict)."""
    qa = json.loads((work / f"work/images/{obs}-qa.json").read_text())
    keys = ("rms_jy", "rms_over_thermal", "beam_arcsec", "n_flux_sources", "flux_ratio_median")
    return {
        **{k: qa[k] for k in keys},
        "offset_arcsec": qa["astrometric_offset_arcsec_median"],
        "verdict": qa["verdict"],
    }


def groups(work: Path) -> tuple[str, str, list[str]]:
    """(calibrator group, target group, the target group's 16 file names) of the inventory."""
    with open(work / "work/inventory/groups.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "complete"]
    cal = next(r["obs"] for r in rows if r["calibrator"])
    target = next(r for r in rows if not r["calibrator"])
    return cal, target["obs"], [target[f"sb{k:02d}"] for k in range(16)]


def forget_target(work: Path, obs: str) -> None:
    """Remove the target group's products, logs and records of an earlier run of this bench."""
    for pattern in (
        f"ms/{obs}.ms*",
        f"calibrated/{obs}*",
        f"images/{obs}-*",
        f"photometry/{obs}*",
        f"logs/*/{obs}.log",
        f"benchmarks/*/{obs}.tsv",
    ):
        for path in (work / "work").glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def job_benchmark(work: Path, stage: str, obs: str) -> dict:
    """Wall seconds and peak memory (GiB) of one job, from its `benchmark:` record."""
    with open(work / f"work/benchmarks/{stage}/{obs}.tsv") as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    return {"wall_s": round(float(row["s"]), 1), "peak_rss_gib": round(float(row["max_rss"]) / 1024, 2)}


def naive_chain(work: Path, files: list[Path], ms: Path, caltables: Path) -> dict:
    """The naive stages, each in a fresh process; wall seconds and peak memory of each."""
    scratch = work / "naive"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    record = json.loads((caltables / "qa.json").read_text())
    tables = [str(caltables / record["tables"][kind]["table"]) for kind in record["apply_order"]]
    stages = {
        "pyuvdata_write_ms": timed_child(naive_conversion(files, scratch / "naive.ms")),
        "aoflagger_default": timed_child(
            f"import subprocess; subprocess.run(['aoflagger', '{scratch}/naive.ms'], check=True, capture_output=True)"
        ),
        "casa_applycal_on_copy": timed_child(f"""
import shutil
from casatasks import applycal
shutil.copytree("{ms}", "{scratch}/applied.ms")
applycal(vis="{scratch}/applied.ms", gaintable={tables!r}, interp=["nearest"] * {len(tables)}, calwt=False,
         flagbackup=False)
"""),
        "wsclean_earlier_parameters": timed_child(
            f"import subprocess; subprocess.run(['wsclean', '-name', '{scratch}/naive', *{NAIVE_WSCLEAN!r}, "
            f"'-temp-dir', '{scratch}', '{scratch}/applied.ms'], check=True, capture_output=True)"
        ),
    }
    shutil.rmtree(scratch, ignore_errors=True)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/contimg_realtime"),
        help="the fragment's working directory, kept and reused (default %(default)s)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive chain")
    for option in ("baseline_averaging_s", "average_channels_to_hz"):
        parser.add_argument(
            f"--{option.replace('_', '-')}",
            type=float,
            default=None,
            help=f"run ours with this imaging.{option} (default: the project's config)",
        )
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    deploy(work)
    imaging = set_imaging(
        work, {"baseline_averaging_s": args.baseline_averaging_s, "average_channels_to_hz": args.average_channels_to_hz}
    )
    snakemake(work, "inventory")  # simulates the fragment the first time
    cal, obs, names = groups(work)
    snakemake(work, f"work/caltables/{cal}", "work/calibration/plan.csv")  # the calibration already solved
    forget_target(work, obs)
    total = snakemake(work, f"work/photometry/{obs}.json")
    stages = {stage: job_benchmark(work, stage, obs) for stage in STAGES}
    result = {
        "group": obs,
        "imaging": imaging,
        "calibration": cal,
        "ours_total_s": round(total, 1),
        "ours_over_309s": round(total / REALTIME_S, 3),
        "ours_peak_rss_gib": max(s["peak_rss_gib"] for s in stages.values()),
        "ours_stages": stages,
        "ours_jobs_s": round(sum(s["wall_s"] for s in stages.values()), 1),
        "image_qa": image_qa(work, obs),
    }
    if not args.no_naive:
        files = [work / "work/incoming" / name for name in names]
        naive = naive_chain(work, files, work / f"work/ms/{obs}.ms", work / f"work/caltables/{cal}")
        naive_total = sum(s["wall_s"] for s in naive.values())
        result.update(
            {
                "naive_stages": naive,
                "naive_total_s": round(naive_total, 1),
                "naive_over_309s": round(naive_total / REALTIME_S, 3),
                "naive_over_ours": round(naive_total / total, 2),
                "ours_over_naive": round(total / naive_total, 3),
            }
        )
    result["goal_met"] = total <= REALTIME_S and (args.no_naive or total <= GOAL_OF_NAIVE * result["naive_total_s"])
    report("realtime", result)
    naive_part = "" if args.no_naive else f" = {result['ours_over_naive']:.2f} x naive {result['naive_total_s']:.0f} s"
    print(
        f"realtime: ours {total:.0f} s = {total / REALTIME_S:.2f} x {REALTIME_S:.0f} s{naive_part} "
        f"(goal <= {GOAL_OF_NAIVE} x naive), image {result['image_qa']['verdict']}, "
        f"rms/thermal {result['image_qa']['rms_over_thermal']:.2f}"
    )
    sys.exit(0 if result["goal_met"] else 1)


if __name__ == "__main__":
    main()
