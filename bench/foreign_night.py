"""A night this project did not write, run as a new user would and scored against its truth.

The demo-scale night (48 antennas, outriggers included, every corruption on, the variable and
the transient) is simulated at another declination, in another writer's form of the UVH5
files (`--writer`, a name of tests/conftest.FILE_FORMATS), with a survey-like catalogue
written in the NVSS catalogue's layout (CATALOG.FIT): fluxes off by `--flux-error` rms,
positions by `--position-error-arcsec` rms per axis, no spectral indices, no transient,
`--spurious-fraction` of entries not on the sky, and `--faint-sources` sky sources (1.5-20 mJy,
down to 3 sigma) it does not list. A copy of config/ is pointed at it the way the README tells
users to (config/real_data.yaml's settings, paths.incoming, survey.files, the night's
calibrator beside the real ones), then `snakemake inventory` and `snakemake` run. Printed and
kept in bench/results/foreign_night.json: every group's fate, the image QA, the forced fluxes
of SNR >= 20 constant sources against the truth (median ratio, fraction within 5 %, pulls), the
variable, the transient, new-source candidates (false ones, and those that are unlisted faint
sources), spurious entries flagged variable. Exits non-zero if a group is lost.

    .venv/bin/python bench/foreign_night.py --out /tmp/foreign [--dec 16.3] [--writer "another writer"]
    .venv/bin/python bench/foreign_night.py --out /tmp/survey --flux-error 0.1 --position-error-arcsec 2 \
        --spurious-fraction 0.1 --faint-sources 40      # issue 21's survey-like catalogue (point sources)
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
import yaml

from common import ROOT, report
from conftest import (  # noqa: E402  (tests/ is on sys.path)
    FILE_FORMATS,
    demo_night,
    nvss_catalog,
    project_config,
    shifted_sky,
)
from contimg import sky  # noqa: E402

DEMO_DEC = 54.57
FAINT = "SIM FAINT "  # sky sources the survey catalogue does not list


def survey_catalogue(truth: pd.DataFrame, args) -> pd.DataFrame:
    """The sky as a survey lists it: every constant and variable source but the unlisted faint
    ones, fluxes and positions (per axis) with Gaussian errors, and ``args.spurious_fraction``
    of entries that are not on the sky (named SPURIOUS k); the transient is not in it."""
    rng = np.random.default_rng(args.seed)
    listed = (truth["kind"] != "transient") & ~truth["name"].str.startswith(FAINT)
    table = truth[listed].drop(columns="kind").copy()
    table["flux_jy"] *= 1 + args.flux_error * rng.standard_normal(len(table))
    dec = np.deg2rad(table["dec_deg"].to_numpy())
    table["ra_deg"] += args.position_error_arcsec / 3600 * rng.standard_normal(len(table)) / np.cos(dec)
    table["dec_deg"] += args.position_error_arcsec / 3600 * rng.standard_normal(len(table))
    field = table[~table["name"].str.startswith("SIM CAL")]
    n_spurious = int(round(args.spurious_fraction * len(field)))
    spurious = pd.DataFrame(
        {
            "name": [f"SPURIOUS {k}" for k in range(n_spurious)],
            "ra_deg": rng.uniform(field["ra_deg"].min(), field["ra_deg"].max(), n_spurious),
            "dec_deg": rng.uniform(field["dec_deg"].min(), field["dec_deg"].max(), n_spurious),
            "flux_jy": rng.choice(field["flux_jy"].to_numpy(), n_spurious),
            "spectral_index": -0.7,
        }
    )
    return pd.concat([table, spurious], ignore_index=True).round({"ra_deg": 7, "dec_deg": 7, "flux_jy": 6})


def faint_sources(catalog: sky.Catalog, dec: float, n: int, seed: int) -> pd.DataFrame:
    """``n`` sky sources no catalogue lists: log-uniform 1.5-20 mJy (3 sigma of a demo image up
    to the catalogue's faint end), within the catalogue's RA span and 1.5 deg of the pointing."""
    rng = np.random.default_rng(seed + 1)
    ra = rng.uniform(catalog.table["ra_deg"].min(), catalog.table["ra_deg"].max(), n)
    decs = dec + rng.uniform(-1.5, 1.5, n)
    return pd.DataFrame(
        {
            "name": [f"{FAINT}{k}" for k in range(n)],
            "ra_deg": ra,
            "dec_deg": decs,
            "flux_jy": np.exp(rng.uniform(np.log(1.5e-3), np.log(20e-3), n)),
            "spectral_index": rng.normal(-0.7, 0.3, n),
        }
    )


def write_night(out: Path, args) -> None:
    """The demo night at ``args.dec`` in ``args.writer``'s form, with ``args.faint_sources``
    unlisted faint sources, into out/incoming, its truth into out/truth."""
    sim = project_config()["simulation"]
    moved = shifted_sky(sky.read_catalog(sim["sky_catalog"]), args.dec - DEMO_DEC)
    faint = faint_sources(moved, args.dec, args.faint_sources, args.seed)
    transient = {**sim["transient"], "dec_deg": sim["transient"]["dec_deg"] + args.dec - DEMO_DEC}
    demo_night(
        out,
        sim["scales"]["demo"]["n_groups"],
        catalog=sky.Catalog(pd.concat([moved.table, faint], ignore_index=True)),
        pointing_dec_deg=args.dec,
        file_format=FILE_FORMATS[args.writer],
        variable=sim["variable"],
        transient=transient,
    )


def deploy(out: Path, dec: float, args) -> Path:
    """A working directory with config/ pointed at the night, as the README tells users to:
    config/real_data.yaml's settings, the survey catalogue as an NVSS-layout CATALOG.FIT, and the
    night's calibrator under a real calibrator's kind of name beside the real ones."""
    run = out / "run"  # an earlier run's work area is kept: snakemake redoes what changed
    shutil.rmtree(run / "config", ignore_errors=True)
    shutil.copytree(ROOT / "config", run / "config")
    truth = pd.read_csv(out / "truth/sky.csv")
    survey = survey_catalogue(truth, args)
    survey = survey[~survey["name"].str.startswith("SIM CAL")]
    nvss_catalog(run / "catalogs/CATALOG.FIT", survey["ra_deg"], survey["dec_deg"], survey["flux_jy"])
    own = shifted_sky(sky.read_catalog(str(ROOT / "config/catalogs/simulated_calibrators.csv")), dec - DEMO_DEC).table
    own["name"] = own["name"].str.replace("SIM CAL ", "", regex=False)  # its model exact, as a real calibrator's is
    real = sky.read_catalog(str(ROOT / "config/catalogs/calibrators.csv")).table
    pd.concat([own, real]).fillna(0.0).to_csv(run / "config/catalogs/calibrators_here.csv", index=False)
    cfg_path = run / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    for section, values in yaml.safe_load((ROOT / "config/real_data.yaml").read_text()).items():
        cfg[section].update(values)
    cfg["paths"].update(incoming=str(out / "incoming"), work="work", truth=str(out / "truth"))
    cfg["survey"]["files"] = ["catalogs/CATALOG.FIT"]
    cfg["inventory"]["calibrator_catalog"] = "config/catalogs/calibrators_here.csv"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return run


def truth_names(run: Path, truth_sky: pd.DataFrame) -> dict[str, str]:
    """{workflow catalogue name: truth name}: each survey source matched to the nearest true
    source within 10 arcsec (the survey's position errors are ~1")."""
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
    good = (kind == "constant") & (rows["snr"] >= 20) & (rows["flags"] == 0)
    ratio = (rows["flux_jy"] / true)[good]
    pull = ((rows["flux_jy"] - true) / rows["flux_err_jy"])[good]
    sources = pd.read_parquet(work / "lightcurves/sources.parquet")
    sources["name"] = sources["name"].map(to_truth).fillna(sources["name"])
    new = pd.read_parquet(work / "lightcurves/new_sources.parquet")
    transient = truth_sky[truth_sky["kind"] == "transient"]
    variable = truth_sky.index[truth_sky["kind"] == "variable"].tolist()
    found_near = []
    for _, row in transient.iterrows():
        sep = np.hypot(
            (new["ra_deg"] - row["ra_deg"]) * np.cos(np.deg2rad(row["dec_deg"])), new["dec_deg"] - row["dec_deg"]
        )
        found_near = new.loc[sep * 3600 < 60, "obs"].unique().tolist()
    faint = truth_sky[truth_sky.index.str.startswith(FAINT)]
    near_faint = np.zeros(len(new), bool)
    for _, row in faint.iterrows():
        sep = np.hypot(
            (new["ra_deg"] - row["ra_deg"]) * np.cos(np.deg2rad(row["dec_deg"])), new["dec_deg"] - row["dec_deg"]
        )
        near_faint |= (sep * 3600 < 10).to_numpy()
    n_false_new = int(len(new) - sum(new["obs"].isin(found_near)) - near_faint.sum())
    constant = sources[sources["name"].map(truth_sky["kind"]) == "constant"]
    spurious = sources[~sources["name"].isin(truth_sky.index)]  # no true source within 10"
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
        },
        "variable_found": bool(sources.set_index("name").reindex(variable)["variable"].fillna(False).all()),
        "false_variables": f"{int(constant['variable'].sum())} of {len(constant)}",
        "transient_found_in": found_near,
        "false_new_sources": n_false_new,
        "unlisted_faint_sources": len(faint),
        "new_source_rows_of_unlisted_faint_sources": int(near_faint.sum()),
        "spurious_entries_flagged_variable": f"{int(spurious['variable'].sum())} of {len(spurious)}",
        "astrometric_offset_arcsec": [r["astrometric_offset_arcsec_median"] for r in images.values()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dec", type=float, default=16.3)
    parser.add_argument("--writer", default="another writer", choices=sorted(FILE_FORMATS))
    parser.add_argument("--flux-error", type=float, default=0.05)
    parser.add_argument("--position-error-arcsec", type=float, default=1.0)
    parser.add_argument("--spurious-fraction", type=float, default=0.0, help="catalogue entries not on the sky")
    parser.add_argument("--faint-sources", type=int, default=0, help="sky sources (1.5-20 mJy) the catalogue misses")
    parser.add_argument("--seed", type=int, default=21)
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
