"""Primary beam of a DSA-110 dish: the Airy pattern of a uniformly lit circular aperture."""

from __future__ import annotations

import numpy as np
from scipy.constants import c as C_LIGHT  # not geometry's: that imports pyuvdata, which photometry lacks
from scipy.special import j1


def airy_power(theta_rad, freq_hz, dish_diameter_m: float) -> np.ndarray:
    """Power response (1 on axis) at angle ``theta`` from the pointing, broadcast over freq.

    (2 J1(x) / x)^2 with x = pi D sin(theta) / lambda: FWHM ~ 1.02 lambda / D.
    """
    x = np.pi * dish_diameter_m * np.sin(np.asarray(theta_rad, dtype=float)) * np.asarray(freq_hz) / C_LIGHT
    x_safe = np.where(np.abs(x) < 1e-8, 1.0, x)
    return np.where(np.abs(x) < 1e-8, 1.0, (2.0 * j1(x_safe) / x_safe) ** 2)


def fwhm_rad(freq_hz: float, dish_diameter_m: float) -> float:
    """Full width at half maximum of the Airy power pattern (1.029 lambda / D)."""
    return 1.028993969 * C_LIGHT / freq_hz / dish_diameter_m
