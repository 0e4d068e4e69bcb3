"""Variability metrics of light curves (fluxes and their 1-sigma errors), as the field
defines them, for every source of a run at once.

- weighted mean:  S_w = sum(w S) / sum(w),  w = 1 / err^2
- eta (LOFAR TraP, Swinbank et al. 2015; VAST): N/(N-1) (mean(w S^2) - mean(w S)^2 / mean(w)),
  the reduced chi^2 of the fluxes about their weighted mean, computed as
  sum(w (S - S_w)^2) / (N - 1) (the same number without the cancellation)
- V: the modulation index, std(S, ddof=1) / mean(S)
- Vs and m (Mooley et al. 2016) of the most significant pair of epochs (largest |Vs|):
  Vs = (S_a - S_b) / sqrt(err_a^2 + err_b^2),  m = 2 (S_a - S_b) / (S_a + S_b),  a later than b
- chi2_nu: chi^2 of the fluxes about a reference flux (the catalogue's, at each image's
  frequency) over N degrees of freedom: is the source where the catalogue says?

A measurement with a NaN flux or a non-positive or non-finite error carries no information
and is left out; with fewer than two measurements left the metrics that need two are NaN.

The curves are given as one array per quantity with a curve number per measurement
(`curves`), measurements of a curve together and in time order, so a year of ~10 million
measurements is a few array passes. The most significant pair is found exactly without
trying all N^2/2 pairs (`most_significant_pairs`).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import optimize, special, stats

from ..settings import Variability

METRICS = ("n_epochs", "weighted_mean_jy", "eta", "v", "vs", "m", "chi2_nu")
PAIR_CHUNK = 5_000_000  # pairs of epochs compared at a time (memory: ~40 bytes each)


def usable(flux: np.ndarray, err: np.ndarray) -> np.ndarray:
    """True for measurements that count: finite flux, finite positive error."""
    return np.isfinite(flux) & np.isfinite(err) & (err > 0)


def _per_curve(curve: np.ndarray, values: np.ndarray, n_curves: int) -> np.ndarray:
    return np.bincount(curve, weights=values, minlength=n_curves)


def _divide(num: np.ndarray, den: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """num / den where ``ok``, NaN elsewhere."""
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=ok)
    return out


def most_significant_pairs(curve: np.ndarray, flux: np.ndarray, err: np.ndarray, n_curves: int):
    """(Vs, m) of each curve's pair of epochs with the largest |Vs| (NaN for fewer than two).

    Exact without all pairs: the pair (highest flux, lowest flux) has some |Vs| = L, so the
    best pair has |Vs| >= L, and its brighter epoch i then has S_i - S_min >= L sqrt(e_i^2 +
    e_min^2) and its fainter epoch j has S_max - S_j >= L sqrt(e_j^2 + e_min^2) (e_min: the
    curve's smallest error). Only those epochs are paired: a few per curve unless it varies
    by many sigma. Among equal |Vs| the earliest pair wins (first epoch, then second; within
    one chunk of `PAIR_CHUNK` pairs)."""
    vs, m = np.full(n_curves, np.nan), np.full(n_curves, np.nan)
    n = np.bincount(curve, minlength=n_curves)
    if not len(curve):
        return vs, m
    present = np.flatnonzero(n)
    starts = np.r_[0, np.cumsum(n[present])[:-1]]
    f_max = np.full(n_curves, np.nan)
    f_min, e_min = f_max.copy(), f_max.copy()
    f_max[present] = np.maximum.reduceat(flux, starts)
    f_min[present] = np.minimum.reduceat(flux, starts)
    e_min[present] = np.minimum.reduceat(err, starts)
    at_max, at_min = (_first_row(curve, flux == f[curve], n_curves) for f in (f_max, f_min))
    pairs = n >= 2
    bound = np.zeros(n_curves)
    bound[pairs] = (f_max - f_min)[pairs] / np.hypot(err[at_max[pairs]], err[at_min[pairs]])
    need = bound[curve] * (1 - 1e-9) * np.hypot(err, e_min[curve])
    brighter = pairs[curve] & (flux - f_min[curve] >= need)
    fainter = pairs[curve] & (f_max[curve] - flux >= need)
    flat = pairs & (bound == 0)  # every pair has Vs = 0: the first two epochs
    first_two = flat[curve] & (np.arange(len(curve)) - np.r_[0, np.cumsum(n)[:-1]][curve] < 2)
    brighter |= first_two
    fainter |= first_two
    best = np.full(n_curves, -1.0)
    for a, b in _pairs_within_curves(curve, np.flatnonzero(brighter), np.flatnonzero(fainter), n_curves):
        later, earlier = np.maximum(a, b), np.minimum(a, b)  # rows are in time order
        pair_vs = (flux[later] - flux[earlier]) / np.sqrt(err[later] ** 2 + err[earlier] ** 2)
        order = np.lexsort((later, earlier, -np.abs(pair_vs), curve[a]))
        first = order[np.r_[True, np.diff(curve[a][order]) != 0]]
        c = curve[a][first]
        better = np.abs(pair_vs[first]) > best[c]
        c, first = c[better], first[better]
        best[c] = np.abs(pair_vs[first])
        vs[c] = pair_vs[first]
        total = flux[later[first]] + flux[earlier[first]]
        m[c] = _divide(2 * (flux[later[first]] - flux[earlier[first]]), total, total != 0)
    return vs, m


def _first_row(curve: np.ndarray, mask: np.ndarray, n_curves: int) -> np.ndarray:
    """The first row of each curve where ``mask`` holds (0 for curves with none)."""
    rows = np.flatnonzero(mask)
    first = np.zeros(n_curves, dtype=np.int64)
    keep = np.r_[True, np.diff(curve[rows]) != 0]
    first[curve[rows[keep]]] = rows[keep]
    return first


def _pairs_within_curves(curve: np.ndarray, left: np.ndarray, right: np.ndarray, n_curves: int):
    """Every (left row, right row) of the same curve, not the same row, in chunks of about
    `PAIR_CHUNK` pairs (rows sorted by curve)."""
    n_right = np.bincount(curve[right], minlength=n_curves)
    right_start = np.cumsum(n_right) - n_right
    reps = n_right[curve[left]]
    bounds = np.searchsorted(np.cumsum(reps), np.arange(PAIR_CHUNK, reps.sum() + PAIR_CHUNK, PAIR_CHUNK), "right")
    for lo, hi in zip(np.r_[0, bounds[:-1]], bounds):
        rows, k = left[lo:hi], reps[lo:hi]
        a = np.repeat(rows, k)
        offset = np.arange(len(a)) - np.repeat(np.cumsum(k) - k, k)
        b = right[np.repeat(right_start[curve[rows]], k) + offset]
        if (a != b).any():
            yield a[a != b], b[a != b]


def curves(curve, flux, err, reference, n_curves: int) -> dict[str, np.ndarray]:
    """Every metric of ``METRICS`` (one array each, ``n_curves`` long) of the light curves
    given by measurement: ``curve`` (its curve number, non-decreasing), flux, error and
    reference flux, each curve in time order."""
    curve = np.asarray(curve, dtype=np.int64)
    flux, err, reference = (np.asarray(a, dtype=float) for a in (flux, err, reference))
    keep = usable(flux, err)
    curve, flux, err, reference = curve[keep], flux[keep], err[keep], reference[keep]
    n = np.bincount(curve, minlength=n_curves)
    some, two = n >= 1, n >= 2
    mean_w = _divide(_per_curve(curve, flux / err**2, n_curves), _per_curve(curve, 1 / err**2, n_curves), some)
    mean = _divide(_per_curve(curve, flux, n_curves), n, some)
    spread_w = _per_curve(curve, (flux - mean_w[curve]) ** 2 / err**2, n_curves)
    spread = _per_curve(curve, (flux - mean[curve]) ** 2, n_curves)
    vs, m = most_significant_pairs(curve, flux, err, n_curves)
    return {
        "n_epochs": n,
        "weighted_mean_jy": mean_w,
        "eta": _divide(spread_w, n - 1, two),
        "v": _divide(np.sqrt(_divide(spread, n - 1, two)), mean, two & (mean != 0)),
        "vs": vs,
        "m": m,
        "chi2_nu": _divide(_per_curve(curve, ((flux - reference) / err) ** 2, n_curves), n, some),
    }


def metrics(flux, err, reference) -> dict:
    """Every metric of ``METRICS`` for one light curve (arrays in time order)."""
    flux = np.asarray(flux, dtype=float)
    table = curves(np.zeros(len(flux), dtype=np.int64), flux, err, reference, 1)
    return {name: (int(values[0]) if name == "n_epochs" else float(values[0])) for name, values in table.items()}


@functools.cache
def chance_vs(n_epochs: int, probability: float) -> float:
    """The |Vs| that the most significant pair of ``n_epochs`` measurements of a constant
    source (Gaussian errors, all equal) exceeds with ``probability``: that pair is the
    largest and the smallest flux, so |Vs| = range / sqrt(2) with the range of n standard
    normals, P(range > r) = n int phi(x) ((1 - Phi(x))^(n-1) - (Phi(x + r) - Phi(x))^(n-1)) dx.
    For 2 epochs it is the Vs of a two-sided Gaussian probability (4.3 <-> 1.7e-5)."""
    x = np.linspace(-9, 9, 2001)
    pdf, below = np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi), special.ndtr(x)
    density = n_epochs * pdf * (1 - below) ** (n_epochs - 1)  # of the smallest of n

    def exceeded(r: float) -> float:
        within = np.clip(special.ndtr(x + r) - below, 0, 1) ** (n_epochs - 1)
        return float(np.trapezoid(density - n_epochs * pdf * within, x))

    return float(optimize.brentq(lambda r: exceeded(r) - probability, 0.0, 30.0, xtol=1e-7) / np.sqrt(2))


@functools.cache
def chance_eta(n_epochs: int, probability: float) -> float:
    """The eta that ``n_epochs`` measurements of a constant source exceed with
    ``probability``: eta (N - 1) is chi^2 with N - 1 degrees of freedom."""
    return float(stats.chi2.isf(probability, n_epochs - 1) / (n_epochs - 1))


def is_candidate(row: dict, limits: Variability) -> str:
    """Why a source is a variability candidate ('' if it is not): the two-epoch test
    (|Vs| >= vs_min and |m| >= m_min) or the whole-curve test (eta >= eta_min and V >= v_min),
    with at least ``min_epochs`` measurements and detected (``max_snr`` >= ``min_snr``) in one.
    Each significance threshold is raised to where a constant source with this many epochs
    passes it by chance with probability ``false_alarm`` (`chance_vs`, `chance_eta`): with 2
    epochs eta is chi^2 with 1 degree of freedom (exceeds 5 in 2.5 % of constant sources),
    and the best of a year's ~600,000 pairs of epochs reaches |Vs| 4.3 in half of them."""
    n = int(row["n_epochs"])
    if n < limits.min_epochs or not row["max_snr"] >= limits.min_snr:
        return ""
    reasons = []
    vs_min = max(limits.vs_min, chance_vs(n, limits.false_alarm))
    eta_min = max(limits.eta_min, chance_eta(n, limits.false_alarm))
    if abs(row["vs"]) >= vs_min and abs(row["m"]) >= limits.m_min:
        reasons.append(f"|Vs| {abs(row['vs']):.1f} >= {vs_min:.1f} and |m| {abs(row['m']):.2f} >= {limits.m_min}")
    if row["eta"] >= eta_min and row["v"] >= limits.v_min:
        reasons.append(f"eta {row['eta']:.1f} >= {eta_min:.1f} and V {row['v']:.2f} >= {limits.v_min}")
    return "; ".join(reasons)
