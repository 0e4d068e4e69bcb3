"""Visibilities of point sources seen through the primary beam (the simulator's and the
calibration model's common predictor).

Per antenna, a source at apparent position s adds a delay (in metres) of
w(s) - w(phase centre); the visibility of baseline (a, b) is then, in pyuvdata's sign
convention, sum_s S_s A_s conj(E_as) E_bs with E = exp(2 pi i delay f / c). Factorising
per antenna turns a subband into one batched matrix product per integration and channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.coordinates import EarthLocation

from . import beam, geometry


@dataclass(frozen=True)
class SourceGeometry:
    """Per-integration delays and beam offsets of a list of sources."""

    delay_m: np.ndarray  # (n_int, n_src, n_ant) w towards each source minus w towards the phase centre
    beam_offset_rad: np.ndarray  # (n_int, n_src) distance of each source from the pointing


def source_geometry(
    relative_ecef: np.ndarray,
    jd: np.ndarray,
    src_ra: np.ndarray,
    src_dec: np.ndarray,
    centre_app: tuple,
    pointing_app: tuple,
    site: EarthLocation,
) -> SourceGeometry:
    """Delays of ICRS sources on each antenna relative to a phase centre, and their beam offsets.

    ``centre_app`` and ``pointing_app`` are apparent (RA, Dec) arrays, one entry per time in
    ``jd``: the direction the visibilities are phased to, and the direction the dishes point.
    """
    lst = geometry.lst(jd, site)
    jd_ts = np.repeat(np.asarray(jd)[:, None], len(src_ra), axis=1)
    ra, dec = geometry.apparent_radec(np.asarray(src_ra)[None, :], np.asarray(src_dec)[None, :], jd_ts, site)
    w_src = geometry.antenna_uvw(relative_ecef, lst[:, None], ra, dec, site)[..., 2]
    w_centre = geometry.antenna_uvw(relative_ecef, lst, centre_app[0], centre_app[1], site)[..., 2]
    offset = geometry.angular_distance(ra, dec, pointing_app[0][:, None], pointing_app[1][:, None])
    return SourceGeometry(w_src - w_centre[:, None, :], offset)


def apparent_flux(flux_jy: np.ndarray, geom: SourceGeometry, freqs_hz: np.ndarray, dish_m: float) -> np.ndarray:
    """(n_int, n_src, n_chan) flux densities (n_src, n_chan) attenuated by the Airy beam."""
    return flux_jy[None] * beam.airy_power(geom.beam_offset_rad[..., None], freqs_hz, dish_m)


def visibilities(geom: SourceGeometry, flux: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """(n_int, n_chan, n_ant, n_ant) visibilities (pyuvdata's convention) of apparent fluxes (t, s, f)."""
    phasor = np.exp((2j * np.pi / geometry.C_LIGHT) * geom.delay_m[..., None] * freqs_hz)  # (t, s, a, f)
    # contiguous operands: a strided matmul bypasses BLAS and is 7x slower
    e = np.ascontiguousarray(np.transpose(phasor, (0, 3, 2, 1)))  # (t, f, a, s)
    weighted = np.conj(e) * np.moveaxis(flux, 2, 1)[:, :, None, :]
    return weighted @ np.ascontiguousarray(np.swapaxes(e, 2, 3))
