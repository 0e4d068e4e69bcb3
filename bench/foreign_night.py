"""A night this project did not write, run as a new user would and scored against its truth.

The demo-scale night (48 antennas, outriggers included, every corruption on, the variable and
the transient) is simulated at another declination, in another writer's form of the UVH5
files (`--writer`, a name of tests/conftest.FILE_FORMATS), with its sky drawn apart from the
catalogue the workflow is given (`simulation.survey`, contimg.simulated_survey): the survey's
list, written in the NVSS catalogue's layout (CATALOG.FIT), has fluxes off by `--flux-error`
rms, positions by `--position-error-arcsec` rms per axis, no spectral indices, no transient,
`--absent-fraction` of its entries with nothing on the sky, misses `--unlisted-sources` faint
sky sources (1.5-20 mJy), and `--resolved-fraction` of its sources are 20-90" Gaussians on the
sky. A copy of config/ is pointed at it the way the README tells users to (config/real_data.yaml's
settings, paths.incoming, survey.files, the night's calibrator beside the real ones), then
`snakemake inventory` and `snakemake` run. Printed and kept in bench/results/foreign_night.json:
every group's fate, the image QA, the forced fluxes of SNR >= 20 constant point sources against
the truth (median ratio, fraction within 5 %, pulls, light-curve positions), the resolved
sources' peak over integrated flux, the variable, the transient, new-source candidates (false
ones, and those that are unlisted sources), absent entries flagged variable. Exits non-zero if
a group is lost.

    .venv/bin/python bench/foreign_night.py --out /tmp/foreign [--dec 16.3] [--writer "another writer"]
    .venv/bin/python bench/foreign_night.py --out /tmp/survey --flux-error 0.1 --position-error-arcsec 2 \
        --absent-fraction 0.1 --unlisted-sources 40 --resolved-fraction 0.15   # config/simulated_survey.yaml's
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from common import ROOT, report
from conftest import (  # noqa: E402  (tests/ is on sys.path)
    FILE_FORMATS,
    demo_night,
    project_config,
    shifted_sky,
)
from contimg import paths, simulated_survey, sky  # noqa: E402
from contimg.photometry import forced, lightcurves  # noqa: E402

SYSTEMATIC_FRACTIONS = (0.0, 0.0025, 0.005, 0.01, 0.02)  # pull widths reported for each

DEMO_DEC = 54.57


def write_night(out: Path, args) -> None:
    """The demo night at ``args.dec`` in ``args.writer``'s form, its sky drawn apart from the
    survey's list (``args``), into out/incoming, its truth and the list into out/truth."""
    sim = project_config()["simulation"]
    moved = shifted_sky(sky.read_catalog(sim["sky_catalog"]), args.dec - DEMO_DEC)
    transient = {**sim["transient"], "dec_deg": sim["transient"]["dec_deg"] + args.dec - DEMO_DEC}
    survey = {
        **yaml.safe_load((ROOT / "config/simulated_survey.yaml").read_text())["simulation"]["survey"],
        "flux_error": args.flux_error,
        "position_error_arcsec": args.position_error_arcsec,
        "absent_fraction": args.absent_fraction,
        "unlisted_sources": args.unlisted_sources,
        "resolved_fraction": args.resolved_fraction,
    }
    demo_night(
        out,
        sim["scales"]["demo"]["n_groups"],
        catalog=moved,
        pointing_dec_deg=args.dec,
        file_format=FILE_FORMATS[args.writer],
        variable=sim["variable"],
        transient=transient,
        survey=survey,
        **({} if args.seed is None else {"seed": args.seed}),
    )


def deploy(out: Path, dec: float, args) -> Path:
    """A working directory with config/ pointed at the night, as the README tells users to:
    config/real_data.yaml's settings, the simulated survey's list (an NVSS-layout CATALOG.FIT) as
    the survey, and the night's calibrator under a real calibrator's kind of name beside the
    real ones."""
    run = out / "run"  # an earlier run's work area is kept: snakemake redoes what changed
    shutil.rmtree(run / "config", ignore_errors=True)
    shutil.copytree(ROOT / "config", run / "config")
    own = shifted_sky(sky.read_catalog(str(ROOT / "config/catalogs/simulated_calibrators.csv")), dec - DEMO_DEC).table
    own["name"] = own["name"].str.replace("SIM CAL ", "", regex=False)  # its model exact, as a real calibrator's is
    real = sky.read_catalog(str(ROOT / "config/catalogs/calibrators.csv")).table
    pd.concat([own, real]).fillna(0.0).to_csv(run / "config/catalogs/calibrators_here.csv", index=False)
    cfg_path = run / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    for section, values in yaml.safe_load((ROOT / "config/real_data.yaml").read_text()).items():
        cfg[section].update(values)
    cfg["paths"].update(incoming=str(out / "incoming"), work="work", truth=str(out / "truth"))
    cfg["survey"]["files"] = [str(out / "truth" / paths.SIMULATED_SURVEY)]
    cfg["inventory"]["calibrator_catalog"] = "config/catalogs/calibrators_here.csv"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return run


def truth_names(run: Path, truth_sky: pd.DataFrame) -> dict[str, str]:
    """{workflow catalogue name: truth name}: each survey source matched to the nearest true
    source within 10 arcsec (the survey's position errors are arcseconds)."""
    names = {}
    for path in sorted((run / "work/catalogs").glob("survey_dec*.csv")):
        made = pd.read_csv(path, comment="#")
        for row in made.itertuples():
            sep = np.hypot(
                (truth_sky["ra_deg"] - row.ra_deg) * np.cos(np.deg2rad(row.dec_deg)), truth_sky["dec_deg"] - row.dec_deg
            )
            if sep.min() * 3600 < 10:
                names[row.name] = sep.idxmin()
    return names


def snakemake(run: Path, *args: str) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2", *args]
    done = subprocess.run(cmd, cwd=run, capture_output=True, text=True)
    (run / f"snakemake{'-' + args[0] if args else ''}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
    return time.perf_counter() - start


def score(out: Path, run: Path) -> dict:
    """Every group's fate, image QA and photometry against the truth."""
    work = run / "work"
    groups = pd.read_csv(work / "inventory/groups.csv", dtype={"obs": str})
    images = {
        obs: json.loads((work / f"images/{obs}-qa.json").read_text())
        for obs in groups["obs"]
        if (work / f"images/{obs}-qa.json").exists()
    }
    truth_sky = pd.read_csv(out / "truth/sky.csv").set_index("name")
    curves = pd.read_csv(out / "truth/lightcurves.csv", dtype={"obs": str}).set_index(["obs", "name"])["flux_jy"]
    to_truth = truth_names(run, truth_sky)
    rows = pd.read_parquet(work / "lightcurves/measurements.parquet")
    rows["name"] = rows["name"].map(to_truth).fillna(rows["name"])
    kind = rows["name"].map(truth_sky["kind"])
    true = np.array([curves.get((o, n), np.nan) for o, n in zip(rows["obs"], rows["name"])])
    true = true * (rows["freq_hz"].to_numpy() / sky.REFERENCE_FREQ_HZ) ** rows["name"].map(truth_sky["spectral_index"])
    major = rows["name"].map(truth_sky.get("major_arcsec", pd.Series(dtype=float))).fillna(0.0)
    measured = (kind == "constant") & (rows["snr"] >= 20) & (rows["flags"] & ~forced.FLAG_RESOLVED == 0)
    good = measured & (major == 0)
    ratio = (rows["flux_jy"] / true)[good]
    pull = ((rows["flux_jy"] - true) / rows["flux_err_jy"])[good]
    resolved = (rows["flux_jy"] / true)[measured & (major > 0)]
    night_systematic = {}  # obs -> the systematic fraction its night measured (lightcurves.gather)
    for night in sorted((work / "lightcurves/nights").glob("*[0-9].parquet")):
        fraction = float(pq.read_schema(night).metadata[lightcurves.SYSTEMATIC_KEY])
        night_systematic.update(dict.fromkeys(pq.read_table(night, columns=["obs"])["obs"].to_pylist(), fraction))
    systematic = rows["obs"].map(night_systematic).fillna(0.0)
    noise = np.sqrt(np.clip(rows["flux_err_jy"] ** 2 - (systematic * rows["flux_jy"]) ** 2, 0, None))[good]
    widths = {}
    for fraction in SYSTEMATIC_FRACTIONS:
        pulls = (rows["flux_jy"] - true)[good] / np.hypot(noise, fraction * rows["flux_jy"][good])
        widths[str(fraction)] = round(float(1.4826 * (pulls - pulls.median()).abs().median()), 2)
    sources = pd.read_parquet(work / "lightcurves/sources.parquet")
    sources["name"] = sources["name"].map(to_truth).fillna(sources["name"])
    points = sources[
        (sources["name"].map(truth_sky["kind"]) == "constant")
        & (sources["name"].map(truth_sky.get("major_arcsec", pd.Series(dtype=float))).fillna(0.0) == 0)
        & (sources["max_snr"] >= 20)
    ]
    true_at = truth_sky.loc[points["name"]]
    offset = 3600 * np.hypot(
        (points["ra_deg"].to_numpy() - true_at["ra_deg"].to_numpy())
        * np.cos(np.deg2rad(true_at["dec_deg"].to_numpy())),
        points["dec_deg"].to_numpy() - true_at["dec_deg"].to_numpy(),
    )
    new = pd.read_parquet(work / "lightcurves/new_sources.parquet")
    transient = truth_sky[truth_sky["kind"] == "transient"]
    variable = truth_sky.index[truth_sky["kind"] == "variable"].tolist()
    near_transient = np.zeros(len(new), bool)
    for _, row in transient.iterrows():
        sep = np.hypot(
            (new["ra_deg"] - row["ra_deg"]) * np.cos(np.deg2rad(row["dec_deg"])), new["dec_deg"] - row["dec_deg"]
        )
        near_transient |= (sep * 3600 < 60).to_numpy()
    found_near = new.loc[near_transient, "obs"].unique().tolist()
    faint = truth_sky[truth_sky.index.str.startswith(simulated_survey.UNLISTED)]
    near_faint = np.zeros(len(new), bool)
    for _, row in faint.iterrows():
        sep = np.hypot(
            (new["ra_deg"] - row["ra_deg"]) * np.cos(np.deg2rad(row["dec_deg"])), new["dec_deg"] - row["dec_deg"]
        )
        near_faint |= (sep * 3600 < 10).to_numpy()
    n_false_new = int((~near_transient & ~near_faint).sum())
    constant = sources[sources["name"].map(truth_sky["kind"]) == "constant"]
    beam = np.median([np.sqrt(np.prod(r["beam_arcsec"])) for r in images.values()])
    absent = sources[~sources["name"].isin(truth_sky.index)]  # no true source within 10"
    return {
        "groups": {row.obs: row.status for row in groups.itertuples()},
        "images": {
            obs: {
                "verdict": r["verdict"],
                "beam_arcsec": [round(b, 1) for b in r["beam_arcsec"]],
                "pixel_arcsec": r["pixel_arcsec"],
                "rms_over_thermal": round(r["rms_over_thermal"], 2),
                "flux_ratio": r["flux_ratio_median"],
                "reasons": r["reasons"],
            }
            for obs, r in images.items()
        },
        "photometry_snr20": {
            "n": int(good.sum()),
            "median_ratio": round(float(ratio.median()), 4),
            "within_5pct": round(float((np.abs(ratio - 1) <= 0.05).mean()), 3),
            "pull_median": round(float(pull.median()), 2),
            "pull_robust_width": round(float(1.4826 * (pull - pull.median()).abs().median()), 2),
            "night_systematic_fraction": sorted(set(night_systematic.values())),
            "pull_robust_width_by_systematic_fraction": widths,
        },
        "light_curve_positions_snr20": {
            "n": len(points),
            "median_offset_arcsec": round(float(np.median(offset)), 2) if len(points) else None,
            "within_beam_10pct": round(float(np.mean(offset <= beam / 10)), 3) if len(points) else None,
        },
        "resolved_snr20": {"n": len(resolved), "median_measured_over_integrated": round(float(resolved.median()), 3)},
        "variable_found": bool(sources.set_index("name").reindex(variable)["variable"].fillna(False).all()),
        "false_variables": f"{int(constant['variable'].sum())} of {len(constant)}",
        "transient_found_in": found_near,
        "false_new_sources": n_false_new,
        "unlisted_sources": len(faint),
        "new_source_rows_of_unlisted_sources": int(near_faint.sum()),
        "absent_entries_flagged_variable": f"{int(absent['variable'].sum())} of {len(absent)}",
        "astrometric_offset_arcsec": [r["astrometric_offset_arcsec_median"] for r in images.values()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dec", type=float, default=16.3)
    parser.add_argument("--writer", default="another writer", choices=sorted(FILE_FORMATS))
    parser.add_argument("--flux-error", type=float, default=0.05)
    parser.add_argument("--position-error-arcsec", type=float, default=1.0)
    parser.add_argument("--absent-fraction", type=float, default=0.0, help="catalogue entries not on the sky")
    parser.add_argument("--unlisted-sources", type=int, default=0, help="sky sources (1.5-20 mJy) it misses")
    parser.add_argument("--resolved-fraction", type=float, default=0.0, help="sources resolved on the sky")
    parser.add_argument("--seed", type=int, default=None, help="the simulation's (default: config/config.yaml's)")
    args = parser.parse_args()
    out = args.out.resolve()
    if not (out / "truth/simulation.json").exists():
        write_night(out, args)
    run = deploy(out, args.dec, args)
    timing = {"inventory_s": round(snakemake(run, "inventory"), 1), "workflow_s": round(snakemake(run), 1)}
    result = {**vars(args), "out": str(out), **timing, **score(out, run)}
    report("foreign_night", result)
    lost = [obs for obs, status in result["groups"].items() if status != "complete"]
    failed = [obs for obs, r in result["images"].items() if r["verdict"] != "pass"]
    print(
        f"foreign night at {args.dec:+} ({args.writer}): {len(result['groups']) - len(lost)} groups processed, "
        f"{len(failed)} images failed QA, median flux ratio {result['photometry_snr20']['median_ratio']}"
    )
    return 1 if lost or failed else 0


if __name__ == "__main__":
    sys.exit(main())
