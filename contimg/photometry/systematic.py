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
say (width 1) is the night's systematic. The width is the rms of the residuals within
`CLIP` times the width, scaled to a Gaussian's (a clipped standard deviation, from the
normalised median absolute deviation on): nearly as precise as the rms of Gaussian residuals
(standard error ~0.75 / sqrt(N - sources)), where the MAD alone, 37 % efficient, scattered
by 1.166 / sqrt(N - sources), about 0.2 on a night's ~35 degrees of freedom, so that a
0.5 % systematic came out anywhere from 0.2 to 0.8 % (simulated nights of 25 sources:
rms error 0.17 % against 0.11 % clipped); a variable source or an outlier is clipped. It is
0 when the noise alone accounts for the scatter: when the width with noise alone exceeds 1
by less than `SIGNIFICANCE` standard errors, which a noise-only night passes 98 % of the
time; or when the night repeats too few bright sources to say (fewer than `MIN_RESIDUALS`
degrees of freedom). What repeats cannot see is an error a source keeps from group to group
(night H, +30: bright sources 0.3-1 % off the truth alike in each group, the repeats' width
within noise, the pulls against the truth 1.38 wide).

    r_i = (S_i - S_w) / sqrt(sigma_i^2 - 1 / sum(w)),  sigma_i^2 = err_i^2 + (s S_i)^2,  w = 1 / sigma^2

(sigma_i^2 - 1 / sum(w) is the variance of S_i - S_w when S_w is the weighted mean S_i is
part of).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

MIN_SNR = 20.0  # bright: 1 % of the flux is at least 0.2 sigma of the noise
MIN_RESIDUALS = 10
MAD_TO_SIGMA = 1.4826
CLIP = 3.0  # residuals beyond this many widths do not count
CLIPPED_VARIANCE = 1 - 2 * CLIP * stats.norm.pdf(CLIP) / (2 * stats.norm.cdf(CLIP) - 1)  # a Gaussian's within CLIP
CLIP_ITERATIONS = 10
STANDARD_ERROR = 0.75  # x sigma / sqrt(N): the clipped standard deviation's (simulated: 0.74-0.76)
SIGNIFICANCE = 2.0  # standard errors above 1 before the scatter is more than noise


def clipped_width(values: np.ndarray) -> float:
    """The standard deviation of Gaussian ``values`` (mean 0) with those beyond `CLIP` times
    it left out: from the normalised MAD on, the rms of those within, over a Gaussian's."""
    width = MAD_TO_SIGMA * float(np.median(np.abs(values)))
    for _ in range(CLIP_ITERATIONS):
        kept = values[np.abs(values) <= CLIP * width]
        width = float(np.sqrt(np.mean(kept**2) / CLIPPED_VARIANCE)) if len(kept) else width
    return width


def _width(curve: np.ndarray, flux: np.ndarray, err: np.ndarray, fraction: float) -> float:
    """The clipped width of the fluxes' residuals about their curves' weighted means, with
    ``fraction`` of the flux added to the errors."""
    var = err**2 + (fraction * flux) ** 2
    total = np.bincount(curve, 1 / var)
    mean = np.bincount(curve, flux / var) / total
    return clipped_width((flux - mean[curve]) / np.sqrt(var - 1 / total[curve]))


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
    if _width(curve, flux, err, 0.0) <= 1 + SIGNIFICANCE * STANDARD_ERROR / np.sqrt(free):
        return 0.0
    if _width(curve, flux, err, 1.0) > 1:  # scattered by more than their fluxes: not a flux scale
        return 1.0
    return float(optimize.brentq(lambda s: _width(curve, flux, err, s) - 1, 0.0, 1.0, xtol=1e-5))
