"""The software that made or applied calibration tables, for their records.

Its own small module: the apply job needs it without the solve's sky model and beam
(importing those, through pyuvdata, took 1.6 s of every apply job)."""

from importlib.metadata import version


def software_versions() -> dict:
    """Versions of the tools that made or applied the tables (for provenance)."""
    return {pkg: version(pkg) for pkg in ("casatasks", "casatools", "casadata", "python-casacore", "contimg")}
