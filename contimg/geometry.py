"""Earth-rotation geometry in pyuvdata's conventions: sidereal time, apparent places, w terms.

Every phase in the project is computed the way pyuvdata computes it (apparent
coordinates of date via ERFA, aberration included), so simulated data, pyuvdata's own
phasing and the Measurement Set writer agree to rounding error. The visibility
convention is pyuvdata's: V_ab = sum S exp(+2 pi i (w_b,s - w_a,s) / lambda), where
w_a,s is antenna a's position projected on the direction of source s minus its
projection on the phase centre.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import erfa
import numpy as np
from astropy.coordinates import EarthLocation
from astropy.utils import iers
from pyuvdata.utils import phasing
from pyuvdata.utils import times as uvtimes

iers.conf.auto_download = False  # offline machines: use the tables shipped with astropy
iers.conf.auto_max_age = None


def _use_cached_iers_table() -> None:
    """Install astropy's bundled IERS-A table from a pickle in the user's cache.

    Parsing the text table costs 1.2 s in every process (every job); unpickling 0.01 s.
    The cache is keyed by the astropy and astropy-iers-data versions; a cache that
    cannot be read or written is simply not used.
    """
    import astropy
    import astropy_iers_data

    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = cache_root / "contimg" / f"iers_a-{astropy_iers_data.__version__}-astropy{astropy.__version__}.pickle"
    try:
        table = pickle.loads(cache.read_bytes())
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        table = iers.IERS_Auto.open()
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(table))
            os.replace(tmp, cache)
        except OSError:
            pass
    iers.earth_orientation_table.set(table)


_use_cached_iers_table()

C_LIGHT = 299792458.0  # m/s


def lst(jd: np.ndarray, site: EarthLocation) -> np.ndarray:
    """Local apparent sidereal time (radians) at each Julian date."""
    return uvtimes.get_lst_for_time(np.asarray(jd, dtype=float), telescope_loc=site)


def apparent_radec(ra_rad, dec_rad, jd: np.ndarray, site: EarthLocation) -> tuple[np.ndarray, np.ndarray]:
    """Apparent (of date, topocentric) RA/Dec of ICRS positions, one per entry of ``jd``."""
    ra = np.broadcast_to(np.asarray(ra_rad, dtype=float), np.shape(jd))
    dec = np.broadcast_to(np.asarray(dec_rad, dtype=float), np.shape(jd))
    flat = phasing.transform_icrs_to_app(
        time_array=np.ravel(np.asarray(jd, dtype=float)), ra=ra.ravel(), dec=dec.ravel(), telescope_loc=site
    )
    return flat[0].reshape(np.shape(jd)), flat[1].reshape(np.shape(jd))


def meridian_apparent(jd: np.ndarray, dec_of_date_rad: float, site: EarthLocation) -> tuple[np.ndarray, np.ndarray]:
    """Apparent RA/Dec of the local meridian at a declination of date: (LST, dec).

    This is where the array points and where the correlator fringe-stops.
    """
    jd = np.asarray(jd, dtype=float)
    return lst(jd, site), np.full(jd.shape, dec_of_date_rad)


def apparent_to_icrs(app_ra, app_dec, jd, site: EarthLocation) -> tuple[np.ndarray, np.ndarray]:
    """ICRS RA/Dec (radians) of apparent positions at the given Julian dates."""
    ra, dec = phasing.transform_app_to_icrs(
        time_array=np.atleast_1d(np.asarray(jd, float)),
        app_ra=np.atleast_1d(np.asarray(app_ra, float)),
        app_dec=np.atleast_1d(np.asarray(app_dec, float)),
        telescope_loc=site,
    )
    return np.mod(ra, 2 * np.pi), dec


def meridian_icrs(jd, dec_of_date_rad: float, site: EarthLocation) -> tuple[np.ndarray, np.ndarray]:
    """ICRS RA/Dec of the meridian at a declination of date, at each Julian date."""
    app_ra, app_dec = meridian_apparent(np.atleast_1d(jd), dec_of_date_rad, site)
    return apparent_to_icrs(app_ra, app_dec, np.atleast_1d(jd), site)


def antenna_uvw(relative_ecef: np.ndarray, lst_rad, app_ra, app_dec, site: EarthLocation, frame_pa=None) -> np.ndarray:
    """(..., N_ant, 3) antenna (u, v, w) in metres towards apparent direction(s).

    ``lst_rad``, ``app_ra``, ``app_dec`` (and ``frame_pa``) share one shape (...); a
    baseline's (u, v, w) is ant2 - ant1 of these rows (pyuvdata's convention).
    """
    shape = np.shape(app_ra)
    n_ant = len(relative_ecef)
    if np.prod(shape, dtype=int) == 0:  # no directions (an empty sky)
        return np.zeros(shape + (n_ant, 3))
    rep = lambda x: np.repeat(np.ravel(np.broadcast_to(x, shape)), n_ant)  # noqa: E731
    numbers = np.arange(n_ant + 1)
    positions = np.vstack([np.zeros(3), relative_ecef])  # entry 0: the array reference
    uvw = phasing.calc_uvw(
        app_ra=rep(app_ra),
        app_dec=rep(app_dec),
        frame_pa=None if frame_pa is None else rep(frame_pa),
        lst_array=rep(lst_rad),
        use_ant_pos=True,
        antenna_positions=positions,
        antenna_numbers=numbers,
        ant_1_array=np.zeros(int(np.prod(shape, dtype=int)) * n_ant, int),
        ant_2_array=np.tile(numbers[1:], int(np.prod(shape, dtype=int))),
        telescope_lat=site.lat.rad,
        telescope_lon=site.lon.rad,
    )
    return uvw.reshape(shape + (n_ant, 3))


def angular_distance(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle distance (radians) between positions; broadcasts."""
    cos_d = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(np.subtract(ra1, ra2))
    return np.arccos(np.clip(cos_d, -1.0, 1.0))


def frame_position_angle(jd: np.ndarray, app_ra, app_dec, site: EarthLocation, step_rad: float = 1e-5) -> np.ndarray:
    """Angle (radians, pyuvdata's sign) that turns apparent north into ICRS north at each position.

    pyuvdata measures it along a 1-degree chord, which is off by ~3e-5 rad at
    declination +55 (5 cm of u, v on the longest baselines); a short symmetric step
    gives it at the point itself.
    """
    jd = np.asarray(jd, dtype=float)
    both = np.concatenate
    ra, dec = phasing.transform_app_to_icrs(
        time_array=both([jd, jd]),
        app_ra=both([app_ra, app_ra]),
        app_dec=both([np.asarray(app_dec) - step_rad, np.asarray(app_dec) + step_rad]),
        telescope_loc=site,
    )
    n = len(jd)
    return -erfa.pas(ra[:n], dec[:n], ra[n:], dec[n:])
