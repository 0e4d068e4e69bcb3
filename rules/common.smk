# The work area's paths (contimg.paths), the run's plan (contimg.planning: which groups,
# calibrations, mosaics and nights it processes, made from the inventory when the DAG is
# built) and the input functions over them.
import functools
import hashlib
import os
import sys
from pathlib import Path

from contimg import naming, planning, plansummary
from contimg.calibration import plan as calplan
from contimg.config import SURVEY, calibrator_files
from contimg.settings import Calibration, from_section, group_photometry
from contimg.paths import (
    NIGHT,
    STRIP,
    IMAGE,
    MOSAIC,
    MOSAIC_READS,
    PHOTOMETRY,
    PHOTOMETRY_READS,
    SIMULATED_SURVEY,
    Area,
)

WORK = config["paths"]["work"]
INCOMING = config["paths"]["incoming"]
TRUTH = config["paths"]["truth"]
SIMULATE = config["simulation"]["enabled"]
BY_NIGHT = config["planning"]["unit"] == "night"
AREA = Area(WORK)


def instrument(*keys):
    """The ``instrument`` settings a job reads, passed as a parameter of its rule so that
    changing any of them re-runs the job and what follows it, and nothing else."""
    return {key: config["instrument"][key] for key in keys}


def station_table(key="instrument"):
    """The station table file that section ``key`` names, as an input (none: the built-in layout)."""
    path = config[key]["station_table"]
    return [path] if path else []


def survey_strip(dec_deg):
    """The survey catalogue of the declination strip (whole degrees) of a pointing."""
    return AREA.survey_catalog(f"{round(dec_deg):+03d}")


def sky_catalog(section, key="catalog"):
    """The catalogue that ``section.key`` names: its file, or (when it says `survey`) an input
    function giving the survey catalogue of the group's declination strip."""
    value = config[section][key]
    if value != SURVEY:
        return value
    return lambda wildcards: survey_strip(
        float(PLAN.row(getattr(wildcards, "obs", None) or wildcards.cal)["pointing_dec_deg"])
    )


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


def truth_path(name):
    """{truth}/ and one of contimg.paths.SIMULATION: the simulated night's summary and truth."""
    return f"{TRUTH}/{name}"


def photometry_done(obs):
    """Whether group ``obs`` has its photometry record (planning.selection.status unfinished)."""
    return os.path.exists(AREA.photometry(obs, ".json"))


# Calibrations solved earlier whose quality gate failed (with the current settings)
CALIBRATION = from_section(Calibration, config["calibration"], "calibration")
FAILED_CALIBRATIONS = calplan.failed_calibrations(os.path.dirname(AREA.caltables()), CALIBRATION)
GROUPS, _quarantined = planning.read_groups(AREA, INCOMING)
try:
    PLAN = planning.make(GROUPS, FAILED_CALIBRATIONS, config, photometry_done)
except planning.PlanError as err:
    sys.exit(f"Configuration error: {err}")
for _line in _quarantined + [f"planning.selection.{key} leaves out {n} group(s)" for key, n in PLAN.left_out.items()]:
    print(_line, file=sys.stderr)
for _line in PLAN.skipped():
    print(_line, file=sys.stderr)


@functools.cache
def lightcurve_nights():
    """The groups whose photometry the light curves use, by night (Plan.lightcurve_nights;
    once per run: it looks for every other group's photometry)."""
    return PLAN.lightcurve_nights(lambda obs: os.path.exists(AREA.photometry(obs)))


def night_measurement_inputs(wildcards):
    """What night {night}'s gathered measurements wait for: its groups' photometry, or by
    night the night's record (its photometry is made inside the night's job) and the
    photometry of its groups that is there already."""
    groups = lightcurve_nights()[wildcards.night]
    made = set(PLAN.nights.get(wildcards.night, [])) if BY_NIGHT else set()
    night = [AREA.night(wildcards.night)] if made else []
    return night + [AREA.photometry(obs) for obs in groups if obs not in made]


def night_photometry(wildcards, suffix):
    """The photometry tables (``suffix``) of night {night}'s light-curve groups."""
    return [AREA.photometry(obs, suffix) for obs in lightcurve_nights()[wildcards.night]]


def night_measurements(suffix):
    """Every night's gathered measurements (``suffix``: ".parquet" or "-new_sources.parquet"), in time order."""
    return [AREA.night_measurements(night, suffix) for night in sorted(lightcurve_nights())]


def mosaic_images(wildcards):
    """Every image product of the groups of mosaic {hour} that the mosaic reads."""
    return [AREA.image(obs, suffix) for obs in PLAN.mosaics[wildcards.hour] for suffix in MOSAIC_READS]


def mosaic_photometry(wildcards):
    """The photometry records of the groups of mosaic {hour} (their new-source candidates are
    marked on its picture)."""
    return [AREA.photometry(obs, ".json") for obs in PLAN.mosaics[wildcards.hour]]


def pointing_dec(wildcards):
    """Pointing declination (deg) of group {obs}, from the inventory."""
    return float(PLAN.row(wildcards.obs)["pointing_dec_deg"])


def calibrator_group(wildcards):
    """The inventory row of calibrator group {cal}."""
    return PLAN.calibrator_row(wildcards.cal)


def candidate_caltables(wildcards):
    """The calibrations group {obs} may use, nearest first (fixed by the inventory)."""
    return [AREA.caltables(cal) for cal in PLAN.candidates[wildcards.obs]]


def group_files(wildcards):
    """The raw files of one complete group, from the inventory."""
    return [
        f"{INCOMING}/{name}" for name in PLAN.group_files(wildcards.obs, config["instrument"]["band"]["n_subbands"])
    ]


def night_targets(wildcards):
    """The products the job of night {night} makes: its groups' products and its mosaics."""
    return PLAN.night_products(AREA, wildcards.night)


def night_caltables(wildcards):
    """The calibrations the groups of night {night} may use (solved by the outer run)."""
    return [AREA.caltables(cal) for cal in PLAN.calibrations(PLAN.nights[wildcards.night])]


def product_targets():
    """Every product of the run: the inventory, the calibration plan, every selected group's
    products (or, by night, the nights' records), the light curves."""
    targets = [AREA.inventory()] + ([truth_path("simulation.json")] if SIMULATE else []) + [AREA.calibration_plan()]
    if BY_NIGHT:
        targets += [AREA.night(night) for night in PLAN.nights]
    else:
        targets += PLAN.group_products(AREA, PLAN.complete, list(PLAN.mosaics))
    if lightcurve_nights():
        targets.append(AREA.lightcurves())
    return targets


def all_targets():
    """What `snakemake` with no target builds: every product, then their index (every output of
    the index rule: a missing one that is not asked for would not be remade)."""
    return product_targets() + list(rules.index.output)


def planning_summary():
    """The planning summary (`snakemake plan`) of the run the config asks for."""
    products, jobs = PLAN.stages(AREA)
    threads = {stage: getattr(rules, stage).rule.resources["_cores"].value for stage in products}  # rule threads
    return plansummary.summary(
        Path(WORK),
        jobs,
        products,
        threads,
        GROUPS,
        len(PLAN.selected),
        PLAN.left_out,
        {obs: PLAN.no_calibration[obs] for obs in PLAN.complete},
        config["planning"]["unit"],
        len(PLAN.nights),
    )
