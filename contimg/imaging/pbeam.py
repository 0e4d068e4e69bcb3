"""The primary beam of an image of one group: the Airy power pattern of the 4.65 m dish
averaged over the group's integrations (the pointing drifts ~0.75 deg along RA in 5 min)
and over the band, evaluated on a coarse grid and interpolated (it is smooth on that scale)."""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS
from scipy.ndimage import map_coordinates

from .. import beam, geometry


def drift_averaged_beam(
    wcs: WCS,
    shape: tuple[int, int],
    jd: np.ndarray,
    pointing_dec_rad: float,
    site,
    freqs_hz: np.ndarray,
    dish_m: float,
    step: int = 16,
) -> np.ndarray:
    """(ny, nx) mean over ``jd`` and ``freqs_hz`` of the Airy power towards each pixel."""
    ny, nx = shape
    ys, xs = np.arange(0, ny + step, step), np.arange(0, nx + step, step)
    gx, gy = np.meshgrid(xs, ys)
    sky = wcs.celestial.pixel_to_world(gx, gy)
    ra, dec = np.deg2rad(sky.ra.deg), np.deg2rad(sky.dec.deg)
    p_ra, p_dec = geometry.meridian_icrs(jd, pointing_dec_rad, site)
    coarse = np.zeros(gx.shape)
    for a, d in zip(np.atleast_1d(p_ra), np.atleast_1d(p_dec)):
        offset = geometry.angular_distance(ra, dec, a, d)
        coarse += beam.airy_power(offset[..., None], freqs_hz, dish_m).mean(axis=-1)
    coarse /= len(np.atleast_1d(p_ra))
    fy, fx = np.mgrid[0:ny, 0:nx]
    return map_coordinates(coarse, [fy / step, fx / step], order=3, mode="nearest")


def correct(image: np.ndarray, pb: np.ndarray, cut: float) -> np.ndarray:
    """image / pb where pb >= cut, NaN elsewhere."""
    return np.where(pb >= cut, image / np.where(pb >= cut, pb, 1.0), np.nan)
