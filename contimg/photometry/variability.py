"""Variability metrics of one light curve (fluxes and their 1-sigma errors), as the field
defines them.

- weighted mean:  S_w = sum(w S) / sum(w),  w = 1 / err^2
- eta (LOFAR TraP, Swinbank et al. 2015; VAST): N/(N-1) (mean(w S^2) - mean(w S)^2 / mean(w)),
  the reduced chi^2 of the fluxes about their weighted mean
- V: the modulation index, std(S, ddof=1) / mean(S)
- Vs and m (Mooley et al. 2016) of the most significant pair of epochs (largest |Vs|):
  Vs = (S_a - S_b) / sqrt(err_a^2 + err_b^2),  m = 2 (S_a - S_b) / (S_a + S_b),  a later than b
- chi2_nu: chi^2 of the fluxes about a reference flux (the catalogue's, at each image's
  frequency) over N degrees of freedom: is the source where the catalogue says?

A measurement with a NaN flux or a non-positive or non-finite error carries no information
and is left out; with fewer than two measurements left the metrics that need two are NaN.
"""

from __future__ import annotations

import numpy as np

from ..settings import Variability

METRICS = ("n_epochs", "weighted_mean_jy", "eta", "v", "vs", "m", "chi2_nu")


def usable(flux: np.ndarray, err: np.ndarray) -> np.ndarray:
    """True for measurements that count: finite flux, finite positive error."""
    return np.isfinite(flux) & np.isfinite(err) & (err > 0)


def eta(flux: np.ndarray, err: np.ndarray) -> float:
    n = len(flux)
    if n < 2:
        return np.nan
    w = 1.0 / err**2
    return float(n / (n - 1) * (np.mean(w * flux**2) - np.mean(w * flux) ** 2 / np.mean(w)))


def modulation_index(flux: np.ndarray) -> float:
    if len(flux) < 2 or np.mean(flux) == 0:
        return np.nan
    return float(np.std(flux, ddof=1) / np.mean(flux))


def two_epoch(flux: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """(Vs, m) of the pair of epochs with the largest |Vs|; epochs in time order."""
    if len(flux) < 2:
        return np.nan, np.nan
    later, earlier = np.triu_indices(len(flux), k=1)[::-1]  # later index first: a > b
    vs = (flux[later] - flux[earlier]) / np.sqrt(err[later] ** 2 + err[earlier] ** 2)
    best = int(np.argmax(np.abs(vs)))
    total = flux[later[best]] + flux[earlier[best]]
    m = 2 * (flux[later[best]] - flux[earlier[best]]) / total if total != 0 else np.nan
    return float(vs[best]), float(m)


def chi2_nu(flux: np.ndarray, err: np.ndarray, reference: np.ndarray) -> float:
    if len(flux) == 0:
        return np.nan
    return float(np.sum(((flux - reference) / err) ** 2) / len(flux))


def metrics(flux, err, reference) -> dict:
    """Every metric of ``METRICS`` for one light curve (arrays in time order)."""
    flux, err, reference = (np.asarray(a, dtype=float) for a in (flux, err, reference))
    keep = usable(flux, err)
    flux, err, reference = flux[keep], err[keep], reference[keep]
    vs, m = two_epoch(flux, err)
    mean = float(np.sum(flux / err**2) / np.sum(1 / err**2)) if len(flux) else np.nan
    return {
        "n_epochs": int(len(flux)),
        "weighted_mean_jy": mean,
        "eta": eta(flux, err),
        "v": modulation_index(flux),
        "vs": vs,
        "m": m,
        "chi2_nu": chi2_nu(flux, err, reference),
    }


def is_candidate(row: dict, limits: Variability) -> str:
    """Why a source is a variability candidate ('' if it is not): the two-epoch test
    (|Vs| >= vs_min and |m| >= m_min) or the whole-curve test (eta >= eta_min and V >= v_min),
    with at least ``min_epochs`` measurements and detected (``max_snr`` >= ``min_snr``) in one."""
    if row["n_epochs"] < limits.min_epochs or not row["max_snr"] >= limits.min_snr:
        return ""
    reasons = []
    if abs(row["vs"]) >= limits.vs_min and abs(row["m"]) >= limits.m_min:
        reasons.append(f"|Vs| {abs(row['vs']):.1f} >= {limits.vs_min} and |m| {abs(row['m']):.2f} >= {limits.m_min}")
    if row["eta"] >= limits.eta_min and row["v"] >= limits.v_min:
        reasons.append(f"eta {row['eta']:.1f} >= {limits.eta_min} and V {row['v']:.2f} >= {limits.v_min}")
    return "; ".join(reasons)
