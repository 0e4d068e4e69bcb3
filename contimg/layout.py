"""The DSA-110 station layout: names and positions of the 117 stations.

The layout is read from a station table (``instrument.station_table``: by default the
observatory's published positions shipped in config/stations/), or built from the rounded
numbers in the config (``instrument.layout``) when no table is named. Positions are
returned as local east/north/up (ENU) offsets from the array reference (station DSA-001)
and as Earth-centred (ITRF/ECEF) coordinates.

Stations are identified by NAME, never by number: correlator files number their antennas
0-based, 1-based or otherwise, and spell the names 'DSA-001', '1' or 'pad1'; `station_key`
turns every spelling into the canonical 'DSA-001'.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation

N_STATIONS = 117
_SPELLING = re.compile(r"^(?:DSA[-_ ]?|PAD|ANT)?0*(\d{1,3})$", re.IGNORECASE)


def station_name(number: int) -> str:
    """'DSA-001' for station 1."""
    return f"DSA-{number:03d}"


def station_key(name: str) -> str:
    """The canonical name of a station however a file or table spells it: 'DSA-001' for
    'DSA-001', 'DSA001', 'dsa-1', 'pad1', 'ant1', '1' or '001'; other names stripped, unchanged."""
    text = name.decode() if isinstance(name, bytes) else str(name)
    match = _SPELLING.match(text.strip())
    return station_name(int(match.group(1))) if match else text.strip()


def station_numbers(names) -> np.ndarray:
    """The number of each canonical station name ('DSA-007' -> 7; -1 for a name without one)."""
    return np.array([int(n[4:]) if re.fullmatch(r"DSA-\d{3}", n) else -1 for n in names], int)


class UnknownAntenna(ValueError):
    """An antenna name that is not a station of the layout."""


@dataclass(frozen=True)
class Layout:
    """Station names (canonical, 'DSA-001') and positions; row k of every array is station ``names[k]``."""

    names: list[str]
    enu: np.ndarray  # (N, 3) metres east/north/up of the reference position
    site: EarthLocation  # the array reference (DSA-001)
    source: str = "the built-in layout"  # where the positions come from (errors name it)

    @property
    def numbers(self) -> np.ndarray:
        """(N,) station numbers ('DSA-007' -> 7; -1 for a name without one)."""
        return station_numbers(self.names)

    @property
    def ecef(self) -> np.ndarray:
        """(N, 3) Earth-centred, Earth-fixed positions in metres."""
        return enu_to_ecef(self.enu, self.site)

    @property
    def relative_ecef(self) -> np.ndarray:
        """(N, 3) ECEF offsets from the array reference (pyuvdata's antenna_positions)."""
        return np.asarray(self.enu, dtype=float) @ _enu_frame(self.site)[0].T

    def rows_of(self, names) -> np.ndarray:
        """Row in this layout of each antenna name (any spelling `station_key` knows);
        UnknownAntenna names every one that is not a station here."""
        lookup = {n: i for i, n in enumerate(self.names)}
        keys = [station_key(n) for n in names]
        missing = sorted({str(n) for n, k in zip(names, keys) if k not in lookup})
        if missing:
            raise UnknownAntenna(
                f"antenna name(s) {', '.join(map(repr, missing))} not in the station layout ({self.source})"
            )
        return np.array([lookup[k] for k in keys], dtype=int)


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
    """The station layout named by the config: its station table, or the T-array numbers when null."""
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
    return Layout([station_name(n) for n in range(1, N_STATIONS + 1)], enu, site)


def read_station_table(path: str, site: EarthLocation) -> Layout:
    """Read a station table: this project's CSV ('#' comments, then columns name,
    latitude_deg, longitude_deg, height_m) or the observatory's (five header lines, then
    columns blank, station name, latitude, longitude, elevation). A missing height takes the
    site's; a row that cannot be read or a repeated name is an error naming the line."""
    with open(path, newline="") as handle:
        lines = list(enumerate(csv.reader(handle), start=1))
    body = [(n, row) for n, row in lines if row and not row[0].startswith("#")]
    if body and [c.strip() for c in body[0][1][:4]] == ["name", "latitude_deg", "longitude_deg", "height_m"]:
        rows = [(n, row) for n, row in body[1:] if any(c.strip() for c in row)]
    else:  # the observatory's layout: the name in the second column
        rows = [(n, row[1:]) for n, row in lines[5:] if len(row) >= 4 and row[1].strip().startswith("DSA-")]
    names, geodetic = [], []
    for line_no, row in rows:
        try:
            lat, lon = float(row[1]), float(row[2])
            height = float(row[3]) if len(row) > 3 and row[3].strip() else site.height.to_value(u.m)
        except (ValueError, IndexError) as err:
            raise ValueError(f"{path}:{line_no}: unreadable station row {row!r}: {err}") from None
        name = station_key(row[0])
        if name in names:
            raise ValueError(f"{path}:{line_no}: station {name} appears twice")
        names.append(name)
        geodetic.append((lat, lon, height))
    if not names:
        raise ValueError(
            f"{path}: no station rows (expected a header 'name,latitude_deg,longitude_deg,height_m' "
            "or the observatory's five header lines)"
        )
    geo = np.array(geodetic)
    loc = EarthLocation.from_geodetic(lon=geo[:, 1] * u.deg, lat=geo[:, 0] * u.deg, height=geo[:, 2] * u.m)
    ecef = np.stack([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)], axis=1)
    return Layout(names, ecef_to_enu(ecef, site), site, str(path))


def select_active(layout: Layout, n_active: int) -> np.ndarray:
    """Rows (in ``layout``) of ``n_active`` stations spread evenly over the whole array.

    The simulation uses this to pick which antennas carry data (production data has
    96 of the 117). Spreading over station number keeps both arms and some outriggers.
    """
    if not 2 <= n_active <= len(layout.names):
        raise ValueError(f"n_antennas must be between 2 and {len(layout.names)}, got {n_active}")
    return np.unique(np.round(np.linspace(0, len(layout.names) - 1, n_active)).astype(int))
