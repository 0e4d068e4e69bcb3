"""The restoring beam of an image in pixel units, its response at pixel offsets, and the beam
convolved with a Gaussian source (how a resolved source looks in the restored image)."""

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

    def _covariance(self) -> np.ndarray:
        """2 x 2 covariance (pixels^2) in (x, y): the major axis points along (-sin pa, cos pa)."""
        major = np.array([-np.sin(self.pa_rad), np.cos(self.pa_rad)])
        minor = np.array([np.cos(self.pa_rad), np.sin(self.pa_rad)])
        return self.sigma_major**2 * np.outer(major, major) + self.sigma_minor**2 * np.outer(minor, minor)

    def convolved(self, other: RestoringBeam) -> RestoringBeam:
        """This beam convolved with the Gaussian ``other`` (the covariances add). A source of
        integrated flux S and shape ``other`` has the result's shape in the image, at a peak of
        S times `area` of this beam over `area` of the result."""
        values, vectors = np.linalg.eigh(self._covariance() + other._covariance())
        x, y = vectors[:, 1]  # the larger eigenvalue's axis
        return RestoringBeam(float(np.sqrt(values[1])), float(np.sqrt(values[0])), float(np.arctan2(-x, y)))

    @property
    def area(self) -> float:
        """The integral of the unit-peak response (pixels)."""
        return 2 * np.pi * self.sigma_major * self.sigma_minor

    def response(self, dx, dy):
        """Unit-peak beam at pixel offsets (dx, dy) from its centre (arrays broadcast)."""
        along = -dx * np.sin(self.pa_rad) + dy * np.cos(self.pa_rad)
        across = dx * np.cos(self.pa_rad) + dy * np.sin(self.pa_rad)
        return np.exp(-0.5 * ((along / self.sigma_major) ** 2 + (across / self.sigma_minor) ** 2))
