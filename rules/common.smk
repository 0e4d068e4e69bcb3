# Path scheme, the plan built from the inventory (which groups, calibrations, mosaics and nights
# a run processes) and the input functions. Nothing else builds product paths.
import functools
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from contimg import naming, plansummary, quarantine, tables
from contimg import selection as selmod
from contimg.calibration import plan as calplan

WORK = config["paths"]["work"]
INCOMING = config["paths"]["incoming"]
TRUTH = config["paths"]["truth"]
SIMULATE = config["simulation"]["enabled"]


def instrument(*keys):
    """The ``instrument`` settings a job reads, passed as a parameter of its rule so that
    changing any of them re-runs the job and what follows it, and nothing else."""
    return {key: config["instrument"][key] for key in keys}


def station_table(key="instrument"):
    """The station table file that section ``key`` names, as an input (none: the built-in layout)."""
    path = config[key]["station_table"]
    return [path] if path else []


def inv_path(name):
    """inventory/files.csv, inventory/groups.csv, ..."""
    return f"{WORK}/inventory/{name}"


def log_path(stage, name="{obs}"):
    return f"{WORK}/logs/{stage}/{name}.log"


def bench_path(stage, name="{obs}"):
    return f"{WORK}/benchmarks/{stage}/{name}.tsv"


def per_attempt(base):
    """A resource that doubles with each retry (Snakemake's `attempt`): a job Slurm killed
    for its time or memory limit is resubmitted with twice as much (profiles: `retries`)."""
    return lambda wildcards, attempt: base * 2 ** (attempt - 1)


def directory_signature(directory, keep):
    """A digest of the names, sizes and mtimes of the files in ``directory`` whose names
    ``keep`` accepts: as a rule parameter it makes Snakemake re-run the rule when such
    files arrive, change or vanish."""
    digest = hashlib.sha1()
    if os.path.isdir(directory):
        with os.scandir(directory) as it:
            listing = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in it if keep(e.name))
        for entry in listing:
            digest.update(repr(entry).encode())
    return digest.hexdigest()


def incoming_signature():
    """The correlator files now in INCOMING (a simulated night is tracked through the
    simulation's summary file instead)."""
    return directory_signature(INCOMING, naming.parse_raw_filename)


def quarantine_path(name=""):
    """quarantine/{obs}.json: a group whose data failed a job after the inventory passed it."""
    return f"{WORK}/quarantine/{name}"


def photometry_path(suffix):
    """photometry/{obs}.parquet (forced), photometry/{obs}-blind.parquet, photometry/{obs}.json."""
    return f"{WORK}/photometry/{{obs}}{suffix}"


def load_groups():
    """The groups table of the last inventory, or None before the first one; groups
    quarantined since then are failed already (the inventory re-runs to record it)."""
    path = inv_path("groups.csv")
    if not os.path.exists(path):
        return None
    groups, records = tables.read_groups(path), quarantine.read_all(quarantine_path())
    if records:
        groups, _ = quarantine.mark_groups(groups, INCOMING, records)
        for row in groups[groups["status"] == quarantine.FAILED].itertuples():
            print(f"group {row.obs} is skipped: {row.reason}", file=sys.stderr)
    return groups


def photometry_done(obs):
    """Whether group ``obs`` has its photometry record (planning.selection.status unfinished)."""
    return os.path.exists(photometry_path(".json").format(obs=obs))


def select_groups():
    """Which groups of the inventory this run processes (planning.selection)."""
    try:
        keep, left_out = selmod.select(GROUPS, PLANNING["selection"], photometry_done)
    except ValueError as err:
        sys.exit(f"Configuration error: {err}")
    for key, count in left_out.items():
        print(f"planning.selection.{key} leaves out {count} group(s)", file=sys.stderr)
    return set(GROUPS.loc[keep, "obs"]), left_out


PLANNING = config["planning"]
BY_NIGHT = PLANNING["unit"] == "night"
GROUPS = load_groups()
GROUP_ROWS = {} if GROUPS is None else {row["obs"]: row for row in GROUPS.to_dict("records")}  # obs -> row, O(1)
SELECTED, LEFT_OUT = (set(), {}) if GROUPS is None else select_groups()
COMPLETE = [] if GROUPS is None else [o for o in GROUPS.loc[GROUPS["status"] == "complete", "obs"] if o in SELECTED]
SUBBAND_COLUMNS = [f"sb{k:02d}" for k in range(config["instrument"]["band"]["n_subbands"])]


# Calibrations solved earlier whose quality gate failed (with the current settings)
FAILED_CALIBRATIONS = calplan.failed_calibrations(f"{WORK}/caltables", config["calibration"])


def calibration_plan():
    """Each complete group's candidate calibrations (calibrator-group obs ids, nearest first),
    over the whole inventory: a selected group may use a calibrator outside the selection."""
    if GROUPS is None:
        return {}, {}
    cal = config["calibration"]
    table = calplan.plan(GROUPS, cal["validity_hours"], config["inventory"]["pointing_tolerance_deg"],
                         cal["max_candidates"], FAILED_CALIBRATIONS)  # fmt: skip
    return dict(zip(table["obs"], table["candidates"])), dict(zip(table["obs"], table["reason"]))


CANDIDATES, NO_CALIBRATION = calibration_plan()
CALIBRATED = [obs for obs in COMPLETE if CANDIDATES[obs]]
for _obs in COMPLETE:
    if NO_CALIBRATION[_obs]:
        print(f"calibration: group {_obs} is skipped: {NO_CALIBRATION[_obs]}", file=sys.stderr)


def ms_path(suffix=""):
    """ms/{obs}.ms (the flagged Measurement Set) and its companions (suffix '.flags.json')."""
    return f"{WORK}/ms/{{obs}}.ms{suffix}"


def caltables_path(cal="{cal}"):
    """caltables/{cal}/: the tables, qa.json and plots solved on calibrator group {cal}."""
    return f"{WORK}/caltables/{cal}"


def calibrated_path(suffix=""):
    """calibrated/{obs}.ms (corrected data) and calibrated/{obs}.cal.json (which calibration, why)."""
    return f"{WORK}/calibrated/{{obs}}{suffix}"


def image_path(suffix):
    """images/{obs}-image.fits, -residual.fits, ..., -qa.json, -thumb.png."""
    return f"{WORK}/images/{{obs}}{suffix}"


def night_path(night="{night}"):
    """nights/{night}.json: the record of a night job (planning.unit night)."""
    return f"{WORK}/nights/{night}.json"


def lightcurves_path(name):
    """lightcurves/measurements.parquet, sources.parquet, new_sources.parquet, plots/."""
    return f"{WORK}/lightcurves/{name}"


def mosaic_plan():
    """{mosaic name: [obs of every calibrated group of that hour]} for the hours with a selected
    group (a mosaic always uses its whole hour), from the inventory."""
    usable = [obs for obs, candidates in CANDIDATES.items() if candidates]
    names = naming.mosaic_names([GROUP_ROWS[obs]["mjd_mid"] for obs in usable], config["imaging"]["mosaic_hours"])
    plan = {}
    for obs, name in zip(usable, names):
        plan.setdefault(str(name), []).append(obs)
    wanted = {str(name) for obs, name in zip(usable, names) if obs in SELECTED}
    return {name: members for name, members in plan.items() if name in wanted}


MOSAICS = mosaic_plan()


@functools.cache
def lightcurve_groups():
    """The groups whose photometry the light curves use: the selected ones, and every other
    group whose photometry is there already (a selection never shrinks the light curves)."""
    others = [obs for obs, cands in CANDIDATES.items() if cands and obs not in SELECTED]
    return CALIBRATED + [obs for obs in others if os.path.exists(photometry_path(".parquet").format(obs=obs))]


def lightcurve_inputs(wildcards):
    """What the light curves wait for in this run: the selected groups' photometry, or the
    nights' records (their photometry is then a parameter: lightcurve_groups)."""
    if BY_NIGHT:
        return expand(night_path(), night=list(NIGHT_GROUPS))
    return expand(photometry_path(".parquet"), obs=CALIBRATED)


def mosaic_images(wildcards):
    """Every image product of the groups of mosaic {hour} that the mosaic reads."""
    return [image_path(suffix).format(obs=obs) for obs in MOSAICS[wildcards.hour]
            for suffix in ("-qa.json", "-image-pb.fits", "-pb.fits", "-residual.fits")]  # fmt: skip


def pointing_dec(wildcards):
    """Pointing declination (deg) of group {obs}, from the inventory."""
    return float(GROUP_ROWS[wildcards.obs]["pointing_dec_deg"])


CALIBRATOR_ROWS = {} if GROUPS is None else {GROUPS["obs"].iat[k]: k for k in np.flatnonzero(GROUPS["calibrator"] != "")}


def calibrator_group(wildcards):
    """The inventory row of calibrator group {cal}."""
    if wildcards.cal not in CALIBRATOR_ROWS:
        raise ValueError(f"group {wildcards.cal} is not a calibrator group of the inventory")
    return GROUPS.iloc[CALIBRATOR_ROWS[wildcards.cal]]


def candidate_caltables(wildcards):
    """The calibrations group {obs} may use, nearest first (fixed by the inventory)."""
    return [caltables_path(cal) for cal in CANDIDATES[wildcards.obs]]


def group_files(wildcards):
    """The raw files of one complete group, from the inventory."""
    row = GROUP_ROWS.get(wildcards.obs)
    if row is None or row["status"] != "complete":
        raise ValueError(f"group {wildcards.obs} is not a complete group of the inventory")
    return [f"{INCOMING}/{row[c]}" for c in SUBBAND_COLUMNS]


def group_products(complete, calibrated, hours):
    """The per-group products of these groups, and the mosaics of these hours."""
    targets = expand(calibrated_path(".ms"), obs=calibrated)
    targets += expand(image_path("-qa.json"), obs=calibrated)
    targets += expand(f"{WORK}/mosaics/{{hour}}{{ext}}", hour=hours, ext=[".fits", ".png"])
    targets += expand(photometry_path(".parquet"), obs=calibrated)
    if not config["calibration"]["temporary_ms"]:
        targets += expand(ms_path(), obs=complete)
    return targets


def night_members():
    """planning.unit night: {night (UTC date): the selected complete groups of that night}."""
    if not BY_NIGHT:
        return {}
    if 24.0 % config["imaging"]["mosaic_hours"]:
        sys.exit("Configuration error: planning.unit night needs imaging.mosaic_hours to divide 24 "
                 "(a mosaic must not span two nights)")  # fmt: skip
    members = {}
    for obs, night in zip(COMPLETE, naming.night_names([GROUP_ROWS[obs]["mjd_mid"] for obs in COMPLETE])):
        members.setdefault(str(night), []).append(obs)
    return members


NIGHT_GROUPS = night_members()


def night_targets(wildcards):
    """The products the job of night {night} makes: its groups' products and its mosaics."""
    members = NIGHT_GROUPS[wildcards.night]
    return group_products(members, [obs for obs in members if CANDIDATES[obs]],
                          [hour for hour in MOSAICS if hour.startswith(wildcards.night)])  # fmt: skip


def night_inventory(night):
    """A digest of the inventory rows (files, times, pointing) and candidate calibrations of the
    groups of ``night``."""
    rows = [(GROUP_ROWS[obs], CANDIDATES[obs]) for obs in NIGHT_GROUPS[night]]
    return hashlib.sha1(repr(rows).encode()).hexdigest()


def night_caltables(wildcards):
    """The calibrations the groups of night {night} may use (solved by the outer run)."""
    return sorted({caltables_path(cal) for obs in NIGHT_GROUPS[wildcards.night] for cal in CANDIDATES[obs]})


def product_targets():
    """Every product of the run: the inventory, the calibration plan, every selected group's
    products (or, by night, the nights' records), the light curves."""
    targets = [inv_path("groups.csv")]
    if SIMULATE:
        targets.append(f"{TRUTH}/simulation.json")
    targets.append(f"{WORK}/calibration/plan.csv")
    if BY_NIGHT:
        targets += expand(night_path(), night=list(NIGHT_GROUPS))
    else:
        targets += group_products(COMPLETE, CALIBRATED, list(MOSAICS))
    if lightcurve_groups():
        targets.append(lightcurves_path("sources.parquet"))
    return targets


def all_targets():
    """What `snakemake` with no target builds: every product, then their index (every output of
    the index rule: a missing one that is not asked for would not be remade)."""
    return product_targets() + list(rules.index.output)


def planned_stages():
    """{stage: [product file sets]} of the run, and {stage: those not made yet} (its jobs)."""
    cals = sorted({cal for obs in CALIBRATED for cal in CANDIDATES[obs]})
    temporary = config["calibration"]["temporary_ms"]
    each = lambda pattern, names: [[pattern.format(obs=obs)] for obs in names]  # noqa: E731
    products = {
        "convert": each(ms_path(), COMPLETE + [cal for cal in cals if cal not in SELECTED]),
        "solve_calibration": [[caltables_path(cal)] for cal in cals],
        "apply_calibration": each(calibrated_path(".ms"), CALIBRATED),
        "image": [[image_path(suffix).format(obs=obs) for suffix in IMAGE_PRODUCTS] for obs in CALIBRATED],
        "photometry": [[photometry_path(suffix).format(obs=obs) for suffix in PHOTOMETRY_PRODUCTS] for obs in CALIBRATED],
        "mosaic": [[f"{WORK}/mosaics/{hour}.fits"] for hour in MOSAICS],
    }
    calibrated = {obs: calibrated_path(".ms").format(obs=obs) for obs in COMPLETE}
    jobs = {stage: [files for files in sets if not os.path.exists(files[0])] for stage, sets in products.items()}
    if temporary:  # a deleted ms/ is only remade for a group that is not calibrated yet
        jobs["convert"] = [f for f in jobs["convert"] if not os.path.exists(calibrated.get(Path(f[0]).stem, ""))]
    return products, jobs


def planning_summary():
    """The planning summary (`snakemake plan`) of the run the config asks for."""
    products, jobs = planned_stages()
    threads = {stage: getattr(rules, stage).rule.resources["_cores"].value for stage in products}  # rule threads
    return plansummary.summary(Path(WORK), jobs, products, threads, GROUPS, len(SELECTED), LEFT_OUT,
                               {obs: NO_CALIBRATION[obs] for obs in COMPLETE}, PLANNING["unit"], len(NIGHT_GROUPS))  # fmt: skip
