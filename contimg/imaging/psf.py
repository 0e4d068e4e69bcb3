"""The restoring beam of a group, from its uv coverage, before imaging.

The beam of DSA-110 changes strongly with declination and with which outriggers carry data
(55" x 11" at +16 deg, 51" x 34" on the demo night), so pixels must be sized from the beam of
this group, not from one night's measurement. The PSF is the Fourier transform of the imaging
weights (`noise.briggs_weights`, as WSClean computes them), gridded here onto a fine grid.
The restoring beam is the elliptical Gaussian fitted to its main lobe, as CASA's tclean does
(the pixels above ``cutoff`` of the peak connected to it), and WSClean is told to restore with
it (-beam-shape): WSClean's own fit over a box of 10 x 1/uv_max takes in sidelobes and, on
sparse arrays, lands on shapes unrelated to the main lobe (67" x 31" for a 22" x 17" lobe).
Image pixels sized from this beam therefore sample it as configured, by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares

from . import noise

FWHM_PER_SIGMA = math.sqrt(8.0 * math.log(2.0))
OVERSAMPLE = 8  # PSF pixels per 1/uv_max
GRID = 1024  # PSF image size (pixels): uv cells of 1/(GRID x pixel), fine enough for the main lobe


@dataclass(frozen=True)
class Beam:
    """An elliptical Gaussian beam: FWHM axes (arcsec) and position angle (deg, north through east)."""

    major_arcsec: float
    minor_arcsec: float
    pa_deg: float


def psf_image(weights: noise.Weights, pixel_rad: float, size: int = GRID) -> np.ndarray:
    """(size, size) PSF with ``pixel_rad`` pixels, peak 1 at [size // 2, size // 2]; axis 0 is
    m (north), axis 1 is l (east)."""
    du = 1.0 / (size * pixel_rad)
    iu = np.rint(weights.u / du).astype(np.int64) % size
    iv = np.rint(weights.v / du).astype(np.int64) % size
    grid = np.bincount(iv * size + iu, weights=weights.imaging, minlength=size * size).reshape(size, size)
    image = np.fft.fftshift(np.fft.fft2(grid).real)  # sum w' cos(2 pi (u l + v m)), half plane doubled
    return image / image[size // 2, size // 2]


def fit_beam(psf: np.ndarray, cutoff: float = 0.35) -> tuple[float, float, float]:
    """(major, minor FWHM in pixels, PA in radians from +m (north) through +l (east)) of the
    centred unit-peak Gaussian fitted to the main lobe of ``psf`` (peak at its centre): every
    pixel above ``cutoff`` connected to the peak."""
    centre = psf.shape[0] // 2
    labels, _ = ndimage.label(psf > cutoff)
    m, l = np.nonzero(labels == labels[centre, centre])  # noqa: E741
    m, l = m - centre, l - centre  # noqa: E741
    values = psf[m + centre, l + centre]
    r2 = np.maximum(l * l + m * m, 1)
    start = np.array([1.0, 0.0, 1.0]) * 2 * np.log(1 / cutoff) / np.median(r2)

    def misfit(p):
        a, b, c = p
        return np.exp(-0.5 * (a * l * l + 2 * b * l * m + c * m * m)) - values

    return _axes(least_squares(misfit, start).x)


def _axes(quadratic: np.ndarray) -> tuple[float, float, float]:
    """FWHM axes and position angle of exp(-(a l^2 + 2 b l m + c m^2) / 2)."""
    a, b, c = quadratic
    covariance = np.linalg.inv(np.array([[a, b], [b, c]]))  # in (l, m)
    values, vectors = np.linalg.eigh(covariance)
    major = vectors[:, 1]  # (l, m) of the major axis
    sigmas = np.sqrt(np.clip(values, 0, None))
    return FWHM_PER_SIGMA * sigmas[1], FWHM_PER_SIGMA * sigmas[0], math.atan2(major[0], major[1]) % math.pi


def predicted_beam(ms: str, fov_deg: float, robust: float, time_step: int = 4) -> tuple[Beam, float]:
    """The restoring beam of the MFS image of ``ms`` over ``fov_deg`` with Briggs ``robust``
    weighting (the uv grid's cell is 1 / the field of view): the main lobe of its PSF; and the
    longest unflagged baseline (wavelengths at the top frequency)."""
    samples = noise.UVSamples(ms, time_step)
    weights = noise.briggs_weights(samples, 1.0 / math.radians(fov_deg), robust, keep_uv=True)
    pixel = 1.0 / samples.uv_max / OVERSAMPLE
    major, minor, pa = fit_beam(psf_image(weights, pixel))
    arcsec = math.degrees(pixel) * 3600.0
    return Beam(major * arcsec, minor * arcsec, math.degrees(pa)), samples.uv_max
