"""A year of light curves: the light-curve and variability step on ~105,000 photometry tables.

A synthetic year (written once, `--data DIR` keeps it): 365 nights of 288 groups, each
group's forced table holding the ~95 of 9,120 sources in its field (every source in 3
groups a day, ~1,100 epochs a year: 10 million rows), with noise, 1 % of the sources
variable, a few per cent flagged or detected off the catalogue position, and a blind table of
detections (some new sources). Measured, each step in a fresh process (wall time, peak
memory of it and its workers):
  - ours, the whole year: each night's tables gathered into one (`lightcurves.gather`, two
    nights at a time: the rule `night_measurements`), then `lightcurves.build` on the 365
    night tables;
  - ours, one more night: that night gathered, then the build on 366 night tables (what the
    workflow re-runs when a night is added);
  - baseline, today's code (commit BASELINE, read from git): `lightcurves.build` on every
    group's table, on the first `--baseline-nights` nights (it loops over sources in Python
    and pairs every two epochs: a year is out of its reach), against ours on the same nights;
    metrics and measurements compared (1e-9), and the same on the demo night's photometry
    (work/photometry) when it is there.
Goals (issue 26): the year <= 300 s and <= 8 GiB, one more night <= 30 s, metrics equal to
1e-9. Exits 1 when one is missed.

    .venv/bin/python bench/lightcurves_year.py [--data /tmp/year] [--nights 365] [--baseline-nights 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.time import Time

from common import ROOT, report, timed_child
from contimg import config, naming
from contimg.photometry import blind, forced, variability
from contimg.settings import Variability, from_section

BASELINE = "696f922"  # the light curves before the night tables and the vectorised metrics
GROUPS_PER_NIGHT = 288
ROWS = 95  # forced measurements per group
SOURCES = GROUPS_PER_NIGHT * ROWS // 3
FIRST_MJD = 61000.0
GOALS = {"year_s": 300.0, "year_gib": 8.0, "night_s": 30.0, "difference": 1e-9}


def sky(seed: int = 1) -> pd.DataFrame:
    """The year's sources: name, position, flux (Jy) and period (days; inf: constant)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "name": [f"SYN J{k:05d}" for k in range(SOURCES)],
            "flux": rng.lognormal(-4.0, 1.2, SOURCES),
            "period": np.where(rng.random(SOURCES) < 0.01, rng.uniform(5, 100, SOURCES), np.inf),
            "ra": np.arange(SOURCES) * 360.0 / SOURCES,
            "dec": 54.5 + rng.uniform(-1.5, 1.5, SOURCES),
        }
    )


def night_tables(data: Path, night: int) -> None:
    """Write night ``night``'s 288 forced and blind tables under data/photometry: each source
    at 1 + 0.5 sin(2 pi t / period) of its flux, noise sqrt(0.5 mJy^2 + (0.5 % flux)^2)."""
    rng = np.random.default_rng([1, night])
    sources = sky()
    true_flux, period, ra, dec, names = (sources[c].to_numpy() for c in ("flux", "period", "ra", "dec", "name"))
    out = data / "photometry"
    out.mkdir(parents=True, exist_ok=True)
    for g in range(GROUPS_PER_NIGHT):
        mjd = FIRST_MJD + night + g * 300.0 / 86400.0
        obs = naming.obs_id([naming.timestamp(Time(mjd, format="mjd"))])
        idx = (g * SOURCES // GROUPS_PER_NIGHT + np.arange(ROWS)) % SOURCES
        flux = true_flux[idx] * (1 + 0.5 * np.sin(2 * np.pi * (mjd - FIRST_MJD) / period[idx]))
        err = np.hypot(5e-4, 0.005 * flux)
        measured = flux + rng.normal(0, 1, ROWS) * err
        snr = measured / err
        seen = snr >= 10
        epoch = {"obs": [obs] * ROWS, "mjd": np.full(ROWS, mjd), "freq_hz": np.full(ROWS, 1.405e9)}
        pq.write_table(
            pa.table(
                {
                    **epoch,
                    "name": names[idx],
                    "ra_deg": ra[idx] + np.where(seen, rng.normal(0, 1e-4, ROWS), 0),
                    "dec_deg": dec[idx] + np.where(seen, rng.normal(0, 1e-4, ROWS), 0),
                    "x_pix": rng.uniform(0, 4096, ROWS),
                    "y_pix": rng.uniform(0, 4096, ROWS),
                    "pb": rng.uniform(0.1, 1, ROWS),
                    "catalog_flux_jy": true_flux[idx],
                    "peak_jy_beam": measured,
                    "local_rms_jy": np.full(ROWS, 5e-4),
                    "flux_jy": measured,
                    "flux_err_jy": err,
                    "snr": snr,
                    "flags": np.where(rng.random(ROWS) < 0.03, forced.FLAG_NEAR_EDGE, 0),
                    "position_from": np.where(seen, "detection", "catalog"),
                    "cutout": np.arange(ROWS),
                }
            ),
            out / f"{obs}.parquet",
        )
        n = 5
        detections = {c: rng.uniform(0, 1, n) for c in blind.COLUMNS}
        detections.update(
            {
                "catalog_name": [""] * n,
                "aegean_flags": np.zeros(n, np.int64),
                **{c: rng.random(n) < 0.5 for c in ("near_edge", "near_bright", "point_like")},
                "new_source": rng.random(n) < 0.002,
            }
        )
        pq.write_table(pa.table({**{k: v[:n] for k, v in epoch.items()}, **detections}), out / f"{obs}-blind.parquet")


def nights_of(data: Path) -> dict[str, list[str]]:
    """{night: its groups' obs ids, in time order} of the tables under data/photometry (a
    group's night is its start date: the synthetic groups start >= 5 min before midnight)."""
    nights: dict[str, list[str]] = {}
    for path in sorted((data / "photometry").glob("*T??????.parquet")):
        nights.setdefault(path.name[:8], []).append(path.name[: -len(".parquet")])
    return nights


OURS = """
import sys
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from contimg.photometry import lightcurves
from contimg.settings import Variability
data, out, nights, limits, gather = Path({data!r}), Path({out!r}), {nights!r}, Variability(**{limits!r}), {gather!r}
phot = data / "photometry"
(out / "nights").mkdir(parents=True, exist_ok=True)
def one(night):
    groups = nights[night]
    lightcurves.gather([phot / f"{{o}}.parquet" for o in groups], [phot / f"{{o}}-blind.parquet" for o in groups],
                       out / "nights" / f"{{night}}.parquet", out / "nights" / f"{{night}}-new_sources.parquet")
if __name__ == "__main__":
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(one, [n for n in sorted(nights) if n in gather]))
    names = sorted(nights)
    lightcurves.build([out / "nights" / f"{{n}}.parquet" for n in names],
                      [out / "nights" / f"{{n}}-new_sources.parquet" for n in names], out, limits, cores=2)
"""

BASELINE_CODE = """
import dataclasses
import sys
from pathlib import Path
sys.path.insert(0, {code!r})
from contimg.photometry import lightcurves
from contimg.settings import Variability
assert lightcurves.__file__.startswith({code!r})
data, out, groups = Path({data!r}), Path({out!r}), {groups!r}
phot = data / "photometry"
known = {{f.name for f in dataclasses.fields(Variability)}}  # it has no false_alarm
lightcurves.build([phot / f"{{o}}.parquet" for o in groups], [phot / f"{{o}}-blind.parquet" for o in groups],
                  out, Variability(**{{k: v for k, v in {limits!r}.items() if k in known}}))
"""


def ours(data: Path, out: Path, nights: dict, limits: dict, gather: list[str]) -> dict:
    code = OURS.format(data=str(data), out=str(out), nights=nights, limits=limits, gather=gather)
    script = out.parent / f"{out.name}.py"
    out.mkdir(parents=True, exist_ok=True)
    script.write_text(code)  # a file: the workers of a process pool import their function from it
    return timed_child(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')")


def baseline(data: Path, out: Path, groups: list[str], limits: dict, code: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    return timed_child(BASELINE_CODE.format(code=str(code), data=str(data), out=str(out), groups=groups, limits=limits))


def difference(ours_dir: Path, base_dir: Path) -> float:
    """The largest relative difference of the sources' metrics and positions (NaN where
    both are NaN); measurements must hold the same rows. (Which sources are candidates is
    not compared: the thresholds now rise with the number of epochs.)"""
    a, b = (pd.read_parquet(d / "sources.parquet").set_index("name") for d in (ours_dir, base_dir))
    if list(a.index) != list(b.index):
        return np.inf
    m_a, m_b = (pd.read_parquet(d / "measurements.parquet") for d in (ours_dir, base_dir))
    if not m_a[["obs", "name"]].equals(m_b[["obs", "name"]]) or not np.allclose(
        m_a["flux_jy"], m_b["flux_jy"], rtol=0, atol=0, equal_nan=True
    ):
        return np.inf
    worst = 0.0
    for column in ("ra_deg", "dec_deg", "catalog_flux_jy", "max_snr", *variability.METRICS):
        x, y = a[column].to_numpy(float), b[column].to_numpy(float)
        both = np.isnan(x) & np.isnan(y)
        if (np.isnan(x) != np.isnan(y)).any():
            return np.inf
        worst = max(worst, float(np.max(np.abs(x - y)[~both] / np.maximum(1, np.abs(y[~both])), initial=0)))
    return worst


def candidates(path: Path, limits: dict) -> dict:
    """The year's variables found and the constant sources called variable, by our thresholds
    and by the fixed ones of the baseline (which ignore the number of epochs)."""
    found = pd.read_parquet(path)
    variable = found["name"].map(sky().set_index("name")["period"] < np.inf).to_numpy()
    fixed = (found["n_epochs"] >= limits["min_epochs"]) & (found["max_snr"] >= limits["min_snr"])
    fixed &= ((found["vs"].abs() >= limits["vs_min"]) & (found["m"].abs() >= limits["m_min"])) | (
        (found["eta"] >= limits["eta_min"]) & (found["v"] >= limits["v_min"])
    )
    return {
        "variables": int(variable.sum()),
        "found": int((found["variable"] & variable).sum()),
        "constant_called_variable": int((found["variable"] & ~variable).sum()),
        "fixed_thresholds": {
            "found": int((fixed & variable).sum()),
            "constant_called_variable": int((fixed & ~variable).sum()),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the synthetic year (written if absent)")
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--baseline-nights", type=int, default=7)
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="year-"))
    work = Path(tempfile.mkdtemp(prefix="lightcurves-"))
    have = nights_of(data)
    missing = [k for k in range(args.nights + 1) if Time(FIRST_MJD + k, format="mjd").strftime("%Y%m%d") not in have]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(night_tables, [data] * len(missing), missing))
    nights = nights_of(data)
    year = dict(sorted(nights.items())[: args.nights])
    settings = config.load(ROOT / "config/config.yaml", ROOT / "config/schema.yaml")["photometry"]["variability"]
    limits = dataclasses.asdict(from_section(Variability, settings, "photometry.variability"))
    n_rows = sum(pq.read_metadata(data / "photometry" / f"{o}.parquet").num_rows for g in year.values() for o in g)

    result = {"nights": len(year), "groups": sum(map(len, year.values())), "measurements": n_rows, "sources": SOURCES}
    result["year"] = ours(data, work / "year", year, limits, list(year))
    added = sorted(nights)[args.nights]
    shutil.copytree(work / "year" / "nights", work / "next" / "nights")
    result["one_more_night"] = ours(data, work / "next", nights, limits, [added])

    code = work / "baseline-code"
    code.mkdir()
    archive = subprocess.run(["git", "archive", BASELINE, "contimg"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    few = dict(sorted(nights.items())[: args.baseline_nights])
    groups = [o for g in few.values() for o in g]
    result["baseline_nights"] = len(few)
    result["baseline"] = baseline(data, work / "base", groups, limits, code)
    result["ours_same_nights"] = ours(data, work / "few", few, limits, list(few))
    result["speedup_same_nights"] = round(result["baseline"]["wall_s"] / result["ours_same_nights"]["wall_s"], 1)
    result["max_difference"] = difference(work / "few", work / "base")
    result["year_candidates"] = candidates(work / "year/sources.parquet", limits)
    demo = ROOT / "work"  # the README's demo run
    demo_nights = nights_of(demo)
    if demo_nights:
        baseline(demo, work / "demo-base", [o for g in demo_nights.values() for o in g], limits, code)
        ours(demo, work / "demo-ours", demo_nights, limits, list(demo_nights))
        result["max_difference_demo_night"] = difference(work / "demo-ours", work / "demo-base")
    met = (
        result["year"]["wall_s"] <= GOALS["year_s"]
        and result["year"]["peak_rss_gib"] <= GOALS["year_gib"]
        and result["one_more_night"]["wall_s"] <= GOALS["night_s"]
        and result["max_difference"] <= GOALS["difference"]
        and result.get("max_difference_demo_night", 0) <= GOALS["difference"]
    )
    result["goals"], result["goals_met"] = GOALS, met
    report("lightcurves_year", result)
    print(
        f"a year ({n_rows:,} measurements of {SOURCES:,} sources in {result['groups']:,} groups): "
        f"{result['year']['wall_s']} s, {result['year']['peak_rss_gib']} GiB; one more night "
        f"{result['one_more_night']['wall_s']} s; {result['baseline_nights']} nights: baseline "
        f"{result['baseline']['wall_s']} s, ours {result['ours_same_nights']['wall_s']} s "
        f"({result['speedup_same_nights']}x), metrics within {result['max_difference']:.1e}"
        + ("" if met else " -- GOAL MISSED")
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
