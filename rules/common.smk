# Path scheme and inventory-driven input functions. Nothing else builds product paths.
import hashlib
import os
import sys

from contimg import naming, quarantine, tables
from contimg.calibration import plan as calplan

WORK = config["paths"]["work"]
INCOMING = config["paths"]["incoming"]
TRUTH = config["paths"]["truth"]
SIMULATE = config["simulation"]["enabled"]


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


GROUPS = load_groups()
GROUP_ROWS = {} if GROUPS is None else {row["obs"]: row for row in GROUPS.to_dict("records")}  # obs -> row, O(1)
COMPLETE = [] if GROUPS is None else list(GROUPS.loc[GROUPS["status"] == "complete", "obs"])
SUBBAND_COLUMNS = [f"sb{k:02d}" for k in range(config["instrument"]["band"]["n_subbands"])]


# Calibrations solved earlier whose quality gate failed (with the current settings)
FAILED_CALIBRATIONS = calplan.failed_calibrations(f"{WORK}/caltables", config["calibration"])


def calibration_plan():
    """Each complete group's candidate calibrations (calibrator-group obs ids, nearest first)."""
    if GROUPS is None:
        return {}, {}
    cal = config["calibration"]
    table = calplan.plan(GROUPS, cal["validity_hours"], config["inventory"]["pointing_tolerance_deg"],
                         cal["max_candidates"], FAILED_CALIBRATIONS)  # fmt: skip
    return dict(zip(table["obs"], table["candidates"])), dict(zip(table["obs"], table["reason"]))


CANDIDATES, NO_CALIBRATION = calibration_plan()
CALIBRATED = [obs for obs, cands in CANDIDATES.items() if cands]
for _obs, _reason in NO_CALIBRATION.items():
    if _reason:
        print(f"calibration: group {_obs} is skipped: {_reason}", file=sys.stderr)


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


def photometry_path(suffix):
    """photometry/{obs}.parquet (forced), photometry/{obs}-blind.parquet, photometry/{obs}.json."""
    return f"{WORK}/photometry/{{obs}}{suffix}"


def lightcurves_path(name):
    """lightcurves/measurements.parquet, sources.parquet, new_sources.parquet, plots/."""
    return f"{WORK}/lightcurves/{name}"


def mosaic_plan():
    """{mosaic name: [obs of the calibrated groups in that hour]}, from the inventory."""
    plan = {}
    for obs, mjd in GROUPS.set_index("obs").loc[CALIBRATED, "mjd_mid"].items() if CALIBRATED else []:
        plan.setdefault(naming.mosaic_name(mjd, config["imaging"]["mosaic_hours"]), []).append(obs)
    return plan


MOSAICS = mosaic_plan()


def mosaic_images(wildcards):
    """Every image product of the groups of mosaic {hour} that the mosaic reads."""
    return [image_path(suffix).format(obs=obs) for obs in MOSAICS[wildcards.hour]
            for suffix in ("-qa.json", "-image-pb.fits", "-pb.fits", "-residual.fits")]  # fmt: skip


def pointing_dec(wildcards):
    """Pointing declination (deg) of group {obs}, from the inventory."""
    return float(GROUP_ROWS[wildcards.obs]["pointing_dec_deg"])


def calibrator_group(wildcards):
    """The inventory row of calibrator group {cal}."""
    row = GROUPS.loc[(GROUPS["obs"] == wildcards.cal) & (GROUPS["calibrator"] != "")]
    if row.empty:
        raise ValueError(f"group {wildcards.cal} is not a calibrator group of the inventory")
    return row.iloc[0]


def candidate_caltables(wildcards):
    """The calibrations group {obs} may use, nearest first (fixed by the inventory)."""
    return [caltables_path(cal) for cal in CANDIDATES[wildcards.obs]]


def group_files(wildcards):
    """The raw files of one complete group, from the inventory."""
    row = GROUP_ROWS.get(wildcards.obs)
    if row is None or row["status"] != "complete":
        raise ValueError(f"group {wildcards.obs} is not a complete group of the inventory")
    return [f"{INCOMING}/{row[c]}" for c in SUBBAND_COLUMNS]


def product_targets():
    """Every product of the run: the inventory, then every group's products."""
    targets = [inv_path("groups.csv")]
    if SIMULATE:
        targets.append(f"{TRUTH}/simulation.json")
    targets.append(f"{WORK}/calibration/plan.csv")
    targets += expand(calibrated_path(".ms"), obs=CALIBRATED)
    targets += expand(image_path("-qa.json"), obs=CALIBRATED)
    targets += expand(f"{WORK}/mosaics/{{hour}}.fits", hour=list(MOSAICS))
    targets += expand(photometry_path(".parquet"), obs=CALIBRATED)
    if CALIBRATED:
        targets.append(lightcurves_path("sources.parquet"))
    if not config["calibration"]["temporary_ms"]:
        targets += expand(ms_path(), obs=COMPLETE)
    return targets


def all_targets():
    """What `snakemake` with no target builds: every product, then their index."""
    return product_targets() + [f"{WORK}/index/last_run.json"]
