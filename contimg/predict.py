"""Visibilities of point sources seen through the primary beam (the simulator's and the
calibration model's common predictor), and of Gaussian sources (resolved sources of the simulated sky
and of a survey's catalogue).

Per antenna, a source at apparent position s adds a delay (in metres) of
w(s) - w(phase centre); the visibility of baseline (a, b) is then, in pyuvdata's sign
convention, sum_s S_s A_s conj(E_as) E_bs with E = exp(2 pi i delay f / c). Factorising
per antenna turns a subband into one batched matrix product per integration and channel.
A Gaussian of FWHM axes (maj, min) at position angle pa multiplies its term by its Fourier
transform on the baseline's (u, v) towards the source, in wavelengths:
exp(-pi^2 / (4 ln 2) ((maj (u sin pa + v cos pa))^2 + (min (u cos pa - v sin pa))^2)),
which does not factorise per antenna: one (baseline x channel) product per source.
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
    uv_m: np.ndarray  # (n_int, n_src, n_ant, 2) each antenna's (u, v) towards each source

    def select(self, sources: np.ndarray) -> SourceGeometry:
        """The geometry of the sources ``sources`` (a boolean mask or indices) only."""
        return SourceGeometry(self.delay_m[:, sources], self.beam_offset_rad[:, sources], self.uv_m[:, sources])


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
    uvw_src = geometry.antenna_uvw(relative_ecef, lst[:, None], ra, dec, site)
    w_centre = geometry.antenna_uvw(relative_ecef, lst, centre_app[0], centre_app[1], site)[..., 2]
    offset = geometry.angular_distance(ra, dec, pointing_app[0][:, None], pointing_app[1][:, None])
    return SourceGeometry(uvw_src[..., 2] - w_centre[:, None, :], offset, uvw_src[..., :2])


def apparent_flux(flux_jy: np.ndarray, geom: SourceGeometry, freqs_hz: np.ndarray, dish_m: float) -> np.ndarray:
    """(n_int, n_src, n_chan) flux densities (n_src, n_chan) attenuated by the Airy beam."""
    return flux_jy[None] * beam.airy_power(geom.beam_offset_rad[..., None], freqs_hz, dish_m)


def _phasors(geom: SourceGeometry, freqs_hz: np.ndarray) -> np.ndarray:
    """(n_int, n_src, n_ant, n_chan) each antenna's delay phase towards each source."""
    return np.exp((2j * np.pi / geometry.C_LIGHT) * geom.delay_m[..., None] * freqs_hz)


def visibilities(geom: SourceGeometry, flux: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """(n_int, n_chan, n_ant, n_ant) visibilities (pyuvdata's convention) of apparent fluxes (t, s, f)."""
    phasor = _phasors(geom, freqs_hz)
    # contiguous operands: a strided matmul bypasses BLAS and is 7x slower
    e = np.ascontiguousarray(np.transpose(phasor, (0, 3, 2, 1)))  # (t, f, a, s)
    weighted = np.conj(e) * np.moveaxis(flux, 2, 1)[:, :, None, :]
    return weighted @ np.ascontiguousarray(np.swapaxes(e, 2, 3))


def gaussian_taper(du_m: np.ndarray, dv_m: np.ndarray, freqs_hz: np.ndarray, shape) -> np.ndarray:
    """(..., n_chan) the Fourier transform (1 at the origin) of a Gaussian of ``shape`` (FWHM
    major, minor, position angle north through east; radians) on baselines (``du_m``,
    ``dv_m``) (metres, any shape, b - a) towards the source."""
    major, minor, pa = shape
    along, across = du_m * np.sin(pa) + dv_m * np.cos(pa), du_m * np.cos(pa) - dv_m * np.sin(pa)
    size2 = (major * along) ** 2 + (minor * across) ** 2  # m^2 rad^2
    return np.exp(-(np.pi**2 / (4 * np.log(2))) * size2[..., None] * (freqs_hz / geometry.C_LIGHT) ** 2)


def baseline_visibilities(
    geom: SourceGeometry,
    flux: np.ndarray,
    freqs_hz: np.ndarray,
    t: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    shapes: np.ndarray | None = None,
) -> np.ndarray:
    """(n_src, n_rows, n_chan) each source's own visibility (pyuvdata's convention) on the rows
    of integrations ``t`` and antennas (``a``, ``b``), of apparent fluxes (t, s, f): the terms
    `visibilities` sums, kept apart (for fitting each source's flux to data). Sources with a
    ``shapes`` row (n_src, 3: `gaussian_visibilities`' shapes; major 0: a point) are Gaussians."""
    phasor = _phasors(geom, freqs_hz)
    terms = flux[t] * np.conj(phasor[t, :, a]) * phasor[t, :, b]  # (rows, s, f)
    for s in [] if shapes is None else np.flatnonzero(shapes[:, 0] > 0):
        d_uv = geom.uv_m[t, s, b] - geom.uv_m[t, s, a]  # (rows, 2)
        terms[:, s] *= gaussian_taper(d_uv[:, 0], d_uv[:, 1], freqs_hz, shapes[s])
    return np.moveaxis(terms, 1, 0)


def gaussian_visibilities(
    geom: SourceGeometry, flux: np.ndarray, freqs_hz: np.ndarray, shapes: np.ndarray
) -> np.ndarray:
    """(n_int, n_chan, n_ant, n_ant) visibilities of Gaussian sources: apparent fluxes (t, s, f)
    (integrated), ``shapes`` (n_src, 3) FWHM major, minor (radians) and position angle (radians,
    north through east)."""
    n_int, n_src, n_ant = geom.delay_m.shape
    out = np.zeros((n_int, len(freqs_hz), n_ant, n_ant), complex)
    for s, shape in enumerate(shapes):
        uv = geom.uv_m[:, s]  # (t, a, 2)
        d_u = uv[:, None, :, 0] - uv[:, :, None, 0]  # (t, a, b): b - a
        d_v = uv[:, None, :, 1] - uv[:, :, None, 1]
        taper = np.moveaxis(gaussian_taper(d_u, d_v, freqs_hz, shape), 3, 1)  # (t, f, a, b)
        e = np.exp((2j * np.pi / geometry.C_LIGHT) * geom.delay_m[:, s, :, None] * freqs_hz)  # (t, a, f)
        e = np.moveaxis(e, 2, 1)  # (t, f, a)
        out += flux[:, s, :, None, None] * np.conj(e)[..., :, None] * e[..., None, :] * taper
    return out
