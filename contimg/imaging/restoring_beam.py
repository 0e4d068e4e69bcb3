"""The restoring beam of an image in pixel units, and its response at pixel offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FWHM_TO_SIGMA = 1.0 / np.sqrt(8 * np.log(2))


@dataclass(frozen=True)
class RestoringBeam:
    """An elliptical Gaussian: sigmas along its major and minor axes (pixels), position
    angle (radians, from north (+y) through east (-x on a sky grid))."""

    sigma_major: float
    sigma_minor: float
    pa_rad: float

    @classmethod
    def from_header(cls, header) -> RestoringBeam:
        """From BMAJ, BMIN, BPA (degrees) and the pixel size CDELT2 of a FITS header."""
        pixel_deg = abs(header["CDELT2"])
        return cls(
            header["BMAJ"] / pixel_deg * FWHM_TO_SIGMA,
            header["BMIN"] / pixel_deg * FWHM_TO_SIGMA,
            np.deg2rad(header["BPA"]),
        )

    def response(self, dx, dy):
        """Unit-peak beam at pixel offsets (dx, dy) from its centre (arrays broadcast)."""
        along = -dx * np.sin(self.pa_rad) + dy * np.cos(self.pa_rad)
        across = dx * np.cos(self.pa_rad) + dy * np.sin(self.pa_rad)
        return np.exp(-0.5 * ((along / self.sigma_major) ** 2 + (across / self.sigma_minor) ** 2))
