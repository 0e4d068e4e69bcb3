# Path scheme and inventory-driven input functions. Nothing else builds product paths.
import hashlib
import os
from pathlib import Path

from contimg import naming, tables

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


def incoming_signature():
    """A digest of the names, sizes and mtimes of the correlator files now in INCOMING.

    Used as a parameter of the inventory rule: when files arrive, change or vanish the
    digest changes and Snakemake re-runs the (incremental) inventory. A simulated night
    is tracked through the simulation's summary file instead.
    """
    digest = hashlib.sha1()
    if os.path.isdir(INCOMING):
        with os.scandir(INCOMING) as it:
            listing = sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in it if naming.parse_raw_filename(e.name)
            )
        for entry in listing:
            digest.update(repr(entry).encode())
    return digest.hexdigest()


def load_groups():
    """The groups table of the last inventory, or None before the first one."""
    path = inv_path("groups.csv")
    return tables.read_groups(path) if os.path.exists(path) else None


GROUPS = load_groups()


def all_targets():
    """What `snakemake` with no target builds: the simulated night and its inventory."""
    targets = [inv_path("groups.csv")]
    if SIMULATE:
        targets.append(f"{TRUTH}/simulation.json")
    return targets
