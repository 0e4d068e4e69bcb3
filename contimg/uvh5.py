"""What this project reads of a UVH5 header, in every legal form writers use.

Correlator files and other writers differ in ways the UVH5 format allows: antenna numbers
0-based (the DSA-110 correlator), 1-based or arbitrary, names spelled 'DSA-001', '1' or
'pad1'; rows in time-major or baseline-major order, some stored as (ant2, ant1); two or
four polarisations in any order; a pyuvdata 3 phase-centre catalogue or none at all (the
correlator's legacy 'drift' header); data arrays with or without the old length-1
spectral-window axis. These helpers turn each into one description: stations by their
canonical name (`layout.station_key`), the parallel hands, the phase centre of every row.
"""

from __future__ import annotations

import h5py
import numpy as np

from .layout import station_key

SIMULATOR_SIGNATURE = "by contimg.simulate"  # in the history of every file contimg.simulate writes


def written_by_simulator(path) -> bool | None:
    """Whether contimg.simulate wrote the UVH5 file at ``path`` (its history says so); None when
    the file cannot be read as UVH5."""
    try:
        with h5py.File(path, "r") as handle:
            history = handle["Header/history"][()]
    except (OSError, KeyError):
        return None
    return SIMULATOR_SIGNATURE in (history.decode() if isinstance(history, bytes) else str(history))


PARALLEL_HANDS = (-5, -6)  # XX, YY in pyuvdata's numbering: the MS keeps these, in this order


class HeaderError(ValueError):
    """A header this project cannot interpret; the message names what is wrong (not the file)."""


def text(value) -> str:
    """A header string (HDF5 stores bytes) as str."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode() if isinstance(value, bytes) else str(value)


def station_names(header: h5py.Group) -> dict[int, str]:
    """{header antenna number: canonical station name} of every antenna the header lists;
    two antennas with one name (in any spelling) is an error naming it."""
    numbers = np.atleast_1d(header["antenna_numbers"][()])
    names = [station_key(text(n)) for n in np.atleast_1d(header["antenna_names"][()])]
    if len(names) != len(numbers):
        raise HeaderError(f"{len(names)} antenna_names for {len(numbers)} antenna_numbers")
    seen: dict[str, int] = {}
    for number, name in zip(numbers, names):
        if name in seen:
            raise HeaderError(f"antenna name {name} is given to antennas {seen[name]} and {int(number)}")
        seen[name] = int(number)
    if len(set(numbers.tolist())) != len(numbers):
        raise HeaderError("antenna_numbers repeat")
    return dict(zip(numbers.tolist(), names))


def row_stations(header: h5py.Group, ant1: np.ndarray, ant2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical station names of the two antennas of every row."""
    names = station_names(header)
    used = np.unique(np.concatenate([ant1, ant2]))
    unnamed = [int(n) for n in used if int(n) not in names]
    if unnamed:
        raise HeaderError(f"antenna number(s) {unnamed} carry data but have no entry in antenna_numbers")
    lookup = np.array([names[int(n)] for n in used], dtype=object)
    return lookup[np.searchsorted(used, ant1)], lookup[np.searchsorted(used, ant2)]


def data_stations(header: h5py.Group) -> list[str]:
    """The canonical names of the stations carrying data, sorted."""
    a1, a2 = row_stations(header, header["ant_1_array"][()], header["ant_2_array"][()])
    return sorted(set(a1.tolist()) | set(a2.tolist()))


def parallel_hands(polarizations) -> np.ndarray:
    """Index in ``polarizations`` of XX and YY (the MS keeps these two)."""
    pols = [int(p) for p in np.atleast_1d(polarizations)]
    missing = [p for p in PARALLEL_HANDS if p not in pols]
    if missing:
        raise HeaderError(f"polarisations {pols} lack XX (-5) and/or YY (-6)")
    return np.array([pols.index(p) for p in PARALLEL_HANDS])


def data_shape(dset_shape: tuple, n_blt: int, n_freq: int, n_pol: int) -> bool:
    """Whether a data set has the header's shape, with or without the old spectral-window axis."""
    return tuple(dset_shape) in ((n_blt, n_freq, n_pol), (n_blt, 1, n_freq, n_pol))


def phase_centres(header: h5py.Group) -> tuple[dict[int, dict], np.ndarray]:
    """({id: centre}, per-row id) of the phase centres the file's data are phased to.

    A pyuvdata 3 catalogue as written; without one (pyuvdata < 2.2 and the DSA-110
    correlator): 'drift' is the correlator's fringe-stop centre, hour angle
    ``extra_keywords/ha_phase_center`` (0: the meridian) at declination of date
    ``extra_keywords/phase_center_dec``, and 'phased' a fixed RA/Dec (``phase_center_ra/dec``).
    """
    n_blt = len(header["time_array"])
    if "phase_center_catalog" in header:
        catalog = {}
        for key, entry in header["phase_center_catalog"].items():
            catalog[int(key)] = {k: (None if entry[k].shape is None else _plain(entry[k][()])) for k in entry}
        ids = header["phase_center_id_array"][()] if "phase_center_id_array" in header else np.zeros(n_blt, int)
        unknown = sorted(set(np.unique(ids).tolist()) - set(catalog))
        if unknown:
            raise HeaderError(f"phase_center_id_array uses ids {unknown} absent from phase_center_catalog")
        return catalog, ids
    phase_type = text(header["phase_type"][()]) if "phase_type" in header else "drift"
    extra = header.get("extra_keywords", {})
    if phase_type == "drift":
        if "phase_center_dec" not in extra:
            raise HeaderError("a 'drift' header without extra_keywords/phase_center_dec")
        ha = float(extra["ha_phase_center"][()]) if "ha_phase_center" in extra else 0.0
        entry = {"cat_type": "hadec", "cat_lon": ha, "cat_lat": float(extra["phase_center_dec"][()])}
    elif phase_type == "phased":
        frame = text(header["phase_center_frame"][()]) if "phase_center_frame" in header else "icrs"
        entry = {
            "cat_type": "sidereal",
            "cat_frame": frame,
            "cat_lon": float(header["phase_center_ra"][()]),
            "cat_lat": float(header["phase_center_dec"][()]),
        }
    else:
        raise HeaderError(f"unknown phase_type {phase_type!r}")
    return {0: entry}, np.zeros(n_blt, int)


def _plain(value):
    return text(value) if isinstance(value, bytes) else value
