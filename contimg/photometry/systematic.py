"""A night's flux-scale systematic error, measured on the night itself.

A forced flux's error (`forced.fluxes_at`) describes its image's noise. What noise does not
describe is mostly common to a group: its flux scale, set by the gains of the day's
calibrator solve as they have drifted by the group's time (group-to-group scales ~1 % apart
on one simulated survey night, indistinguishable from noise on others: bench/README.md), and
primary-beam errors. A fixed fraction added to every error cannot be right for every night
(the pulls' robust width was 1.24 on one night and 0.72 on another with the same 0.5 %), so
each night measures its own: a drift scan sees a source in 2-3 consecutive groups, and the
fraction s of the flux that, added in quadrature to the errors, makes the residuals of the
night's bright clean measurements about their source's weighted mean as wide as their errors
say (normalised median absolute deviation 1) is the night's systematic. It is 0 when the
noise alone accounts for the scatter: when the width with noise alone exceeds 1 by less
than `SIGNIFICANCE` times its standard error (1.166 / sqrt(N - sources) for N Gaussian
residuals, the normalised MAD's asymptotic efficiency being 37 %), which a noise-only night
passes 98 % of the time; or when the night repeats too few bright sources to say (fewer than
`MIN_RESIDUALS` degrees of freedom).

    r_i = (S_i - S_w) / sqrt(sigma_i^2 - 1 / sum(w)),  sigma_i^2 = err_i^2 + (s S_i)^2,  w = 1 / sigma^2

(sigma_i^2 - 1 / sum(w) is the variance of S_i - S_w when S_w is the weighted mean S_i is
part of). The median makes a variable source or an outlier count no more than any other
measurement.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

MIN_SNR = 20.0  # bright: 1 % of the flux is at least 0.2 sigma of the noise
MIN_RESIDUALS = 10
MAD_TO_SIGMA = 1.4826
MAD_STANDARD_ERROR = 1.166  # x sigma / sqrt(N): the normalised MAD's, for N Gaussian values
SIGNIFICANCE = 2.0  # standard errors above 1 before the scatter is more than noise


def _width(curve: np.ndarray, flux: np.ndarray, err: np.ndarray, fraction: float) -> float:
    """The normalised median absolute residual of the fluxes about their curves' weighted
    means, with ``fraction`` of the flux added to the errors."""
    var = err**2 + (fraction * flux) ** 2
    total = np.bincount(curve, 1 / var)
    mean = np.bincount(curve, flux / var) / total
    residual = (flux - mean[curve]) / np.sqrt(var - 1 / total[curve])
    return MAD_TO_SIGMA * float(np.median(np.abs(residual)))


def fraction(curve: np.ndarray, flux: np.ndarray, err: np.ndarray, snr: np.ndarray, clean: np.ndarray) -> float:
    """The systematic fraction of one night's measurements: ``curve`` numbers each
    measurement's source, ``clean`` marks measurements without flags; only clean ones of SNR
    >= `MIN_SNR` from sources with at least two such count."""
    use = clean & (snr >= MIN_SNR) & np.isfinite(flux) & np.isfinite(err) & (err > 0)
    _, curve, count = np.unique(curve[use], return_inverse=True, return_counts=True)
    repeated = count[curve] >= 2
    curve = np.unique(curve[repeated], return_inverse=True)[1]
    flux, err = flux[use][repeated], err[use][repeated]
    free = len(flux) - (curve.max() + 1 if len(curve) else 0)  # residuals less one mean per source
    if free < MIN_RESIDUALS:
        return 0.0
    if _width(curve, flux, err, 0.0) <= 1 + SIGNIFICANCE * MAD_STANDARD_ERROR / np.sqrt(free):
        return 0.0
    if _width(curve, flux, err, 1.0) > 1:  # scattered by more than their fluxes: not a flux scale
        return 1.0
    return float(optimize.brentq(lambda s: _width(curve, flux, err, s) - 1, 0.0, 1.0, xtol=1e-5))
