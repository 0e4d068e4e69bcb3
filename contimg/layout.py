"""The DSA-110 station layout: names and positions of the 117 stations.

The layout is built from the numbers in the config (``instrument.layout``), or read
from an observatory station table (CSV with five header lines, then columns: blank,
station name, latitude, longitude, elevation) when ``instrument.station_table`` is set.
Positions are returned as local east/north/up (ENU) offsets from the array reference
(station DSA-001) and as Earth-centred (ITRF/ECEF) coordinates.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation

N_STATIONS = 117


def station_name(number: int) -> str:
    """'DSA-001' for station 1."""
    return f"DSA-{number:03d}"


@dataclass(frozen=True)
class Layout:
    """Station names, numbers (1-based, as the observatory names them) and positions."""

    names: list[str]
    numbers: np.ndarray  # (N,) int, 1..117
    enu: np.ndarray  # (N, 3) metres east/north/up of the reference position
    site: EarthLocation  # the array reference (DSA-001)

    @property
    def ecef(self) -> np.ndarray:
        """(N, 3) Earth-centred, Earth-fixed positions in metres."""
        return enu_to_ecef(self.enu, self.site)

    @property
    def relative_ecef(self) -> np.ndarray:
        """(N, 3) ECEF offsets from the array reference (pyuvdata's antenna_positions)."""
        return np.asarray(self.enu, dtype=float) @ _enu_frame(self.site)[0].T

    def index_of(self, numbers) -> np.ndarray:
        """Row index in this layout of each station number."""
        lookup = {int(n): i for i, n in enumerate(self.numbers)}
        return np.array([lookup[int(n)] for n in np.atleast_1d(numbers)])


def site_location(site_cfg: dict) -> EarthLocation:
    """EarthLocation of the array reference from the config's ``instrument.site``."""
    return EarthLocation.from_geodetic(
        lon=site_cfg["longitude_deg"] * u.deg,
        lat=site_cfg["latitude_deg"] * u.deg,
        height=site_cfg["height_m"] * u.m,
    )


def _enu_frame(site: EarthLocation) -> tuple[np.ndarray, np.ndarray]:
    """Rotation taking ENU vectors at ``site`` to ECEF, and the site's ECEF position."""
    lat = site.lat.rad
    lon = site.lon.rad
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    rot = np.array(
        [
            [-so, -sl * co, cl * co],
            [co, -sl * so, cl * so],
            [0.0, cl, sl],
        ]
    )
    origin = np.array([site.x.to_value(u.m), site.y.to_value(u.m), site.z.to_value(u.m)])
    return rot, origin


def enu_to_ecef(enu: np.ndarray, site: EarthLocation) -> np.ndarray:
    """Rotate local ENU offsets at ``site`` into ECEF and add the site position."""
    rot, origin = _enu_frame(site)
    return np.asarray(enu, dtype=float) @ rot.T + origin


def ecef_to_enu(ecef: np.ndarray, site: EarthLocation) -> np.ndarray:
    """Inverse of :func:`enu_to_ecef`."""
    rot, origin = _enu_frame(site)
    return (np.asarray(ecef, dtype=float) - origin) @ rot


def layout_from_config(instrument_cfg: dict) -> Layout:
    """The station layout named by the config: a station table if given, else the T-array numbers."""
    site = site_location(instrument_cfg["site"])
    if instrument_cfg.get("station_table"):
        return read_station_table(instrument_cfg["station_table"], site)
    return build_layout(instrument_cfg["layout"], site)


def build_layout(layout_cfg: dict, site: EarthLocation) -> Layout:
    """ENU positions of all stations from the arm and outrigger description."""
    enu = np.zeros((N_STATIONS, 3))
    ew = layout_cfg["ew_arm"]
    gaps = {int(k): float(v) for k, v in ew.get("wide_gaps_m", {}).items()}
    east = 0.0
    for number in range(ew["first"], ew["last"] + 1):
        if number > ew["first"]:
            east += gaps.get(number, ew["spacing_m"])
        enu[number - 1] = (east, ew["north_m"], 0.0)
    ns = layout_cfg["ns_arm"]
    for k, number in enumerate(range(ns["first"], ns["last"] + 1)):
        enu[number - 1] = (ns["east_m"], ns["north_start_m"] + k * ns["spacing_m"], 0.0)
    for number, (east_m, north_m) in layout_cfg["outriggers_m"].items():
        enu[int(number) - 1] = (east_m, north_m, 0.0)
    numbers = np.arange(1, N_STATIONS + 1)
    return Layout([station_name(n) for n in numbers], numbers, enu, site)


def read_station_table(path: str, site: EarthLocation) -> Layout:
    """Read the observatory's station CSV; a missing elevation takes the site height."""
    names, geodetic = [], []
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    for line_no, row in enumerate(rows[5:], start=6):
        if len(row) < 4 or not row[1].strip().startswith("DSA-"):
            continue
        try:
            lat, lon = float(row[2]), float(row[3])
            height = float(row[4]) if len(row) > 4 and row[4].strip() else site.height.to_value(u.m)
        except ValueError as err:
            raise ValueError(f"{path}:{line_no}: unreadable station row {row!r}: {err}") from None
        names.append(row[1].strip())
        geodetic.append((lat, lon, height))
    if not names:
        raise ValueError(f"{path}: no 'DSA-nnn' station rows after the 5 header lines")
    geo = np.array(geodetic)
    loc = EarthLocation.from_geodetic(lon=geo[:, 1] * u.deg, lat=geo[:, 0] * u.deg, height=geo[:, 2] * u.m)
    ecef = np.stack([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)], axis=1)
    numbers = np.array([int(n.split("-")[1]) for n in names])
    return Layout(names, numbers, ecef_to_enu(ecef, site), site)


def select_active(layout: Layout, n_active: int) -> np.ndarray:
    """Station numbers of ``n_active`` stations spread evenly over the whole array.

    The simulation uses this to pick which antennas carry data (production data has
    96 of the 117). Spreading over station number keeps both arms and some outriggers.
    """
    if not 2 <= n_active <= len(layout.numbers):
        raise ValueError(f"n_antennas must be between 2 and {len(layout.numbers)}, got {n_active}")
    idx = np.unique(np.round(np.linspace(0, len(layout.numbers) - 1, n_active)).astype(int))
    return layout.numbers[idx]
