"""Variability metrics against hand-computed values, and their edge cases."""

import numpy as np
import pytest

from contimg.photometry import variability
from contimg.settings import Variability

CFG = Variability(min_epochs=2, vs_min=4.3, m_min=0.26, eta_min=5.0, v_min=0.1, min_snr=5.0, false_alarm=1e-4)


def test_equal_errors():
    # mean 2; chi^2 about it (1 + 0 + 1) over N - 1 = 2 -> eta 1; V = 1 / 2;
    # most significant pair: epochs 3 and 1, Vs = 2 / sqrt(2), m = 2 * 2 / 4
    got = variability.metrics([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert got["n_epochs"] == 3 and got["weighted_mean_jy"] == pytest.approx(2.0)
    assert got["eta"] == pytest.approx(1.0)
    assert got["v"] == pytest.approx(0.5)
    assert got["vs"] == pytest.approx(np.sqrt(2)) and got["m"] == pytest.approx(1.0)
    assert got["chi2_nu"] == pytest.approx(2 / 3)  # (1 + 0 + 1) / 3 about the reference 2


def test_unequal_errors_and_a_fading_source():
    # w = 1, 1/4: weighted mean 14.5 / 1.25 = 11.6; chi^2 = 0.16 + 0.64 = 0.8 over 1 dof
    got = variability.metrics([12.0, 10.0], [1.0, 2.0], [10.0, 10.0])
    assert got["weighted_mean_jy"] == pytest.approx(11.6)
    assert got["eta"] == pytest.approx(0.8)
    assert got["vs"] == pytest.approx(-2 / np.sqrt(5))  # later minus earlier: it faded
    assert got["m"] == pytest.approx(-4 / 22)
    assert got["chi2_nu"] == pytest.approx((4 + 0) / 2)


def test_one_epoch_has_no_variability_metrics():
    got = variability.metrics([5.0], [0.5], [5.0])
    assert got["n_epochs"] == 1 and got["weighted_mean_jy"] == pytest.approx(5.0)
    assert all(np.isnan(got[k]) for k in ("eta", "v", "vs", "m"))
    assert got["chi2_nu"] == pytest.approx(0.0)
    assert variability.is_candidate({**got, "max_snr": 30.0}, CFG) == ""


def test_nan_flux_and_zero_error_are_left_out():
    clean = variability.metrics([1.0, 3.0], [1.0, 1.0], [2.0, 2.0])
    dirty = variability.metrics([1.0, np.nan, 3.0, 7.0, 9.0], [1.0, 1.0, 1.0, 0.0, np.inf], [2.0] * 5)
    assert dirty == pytest.approx(clean, nan_ok=True)
    assert dirty["n_epochs"] == 2


def test_no_usable_measurement():
    got = variability.metrics([np.nan], [1.0], [1.0])
    assert got["n_epochs"] == 0 and all(np.isnan(got[k]) for k in variability.METRICS if k != "n_epochs")
    assert variability.is_candidate({**got, "max_snr": 30.0}, CFG) == ""


def test_candidates_need_both_halves_of_a_test():
    base = {"n_epochs": 6, "max_snr": 30.0, "eta": 1.0, "v": 0.01, "vs": 0.0, "m": 0.0}
    assert variability.is_candidate(base, CFG) == ""
    # significant but small (a bright constant source with a 1 % systematic): not variable
    assert variability.is_candidate({**base, "vs": 8.0, "m": 0.02, "eta": 30.0}, CFG) == ""
    # large but insignificant (a faint source): not variable
    assert variability.is_candidate({**base, "vs": 2.0, "m": 0.5, "v": 0.3}, CFG) == ""
    assert "Vs" in variability.is_candidate({**base, "vs": -5.0, "m": -0.4}, CFG)
    assert "eta" in variability.is_candidate({**base, "eta": 6.0, "v": 0.2}, CFG)
    assert variability.is_candidate({**base, "n_epochs": 1, "vs": 9.0, "m": 1.0}, CFG) == ""
    # never detected (a catalogue entry with nothing on the sky: noise about zero), or no SNR at all
    assert variability.is_candidate({**base, "max_snr": 4.0, "vs": -5.0, "m": -3.0}, CFG) == ""
    assert variability.is_candidate({**base, "max_snr": np.nan, "eta": 6.0, "v": 0.2}, CFG) == ""


def exhaustive(flux, err, reference):
    """The metrics of one curve the long way: every pair of epochs, the textbook formulas."""
    keep = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    flux, err, reference = flux[keep], err[keep], reference[keep]
    n, w = len(flux), 1 / err**2
    got = {"n_epochs": n, "weighted_mean_jy": np.sum(w * flux) / np.sum(w) if n else np.nan}
    got["chi2_nu"] = np.mean(((flux - reference) / err) ** 2) if n else np.nan
    got["eta"] = n / (n - 1) * (np.mean(w * flux**2) - np.mean(w * flux) ** 2 / np.mean(w)) if n > 1 else np.nan
    got["v"] = np.std(flux, ddof=1) / np.mean(flux) if n > 1 else np.nan
    best = (-1.0, np.nan, np.nan)
    for b in range(n):  # earlier
        for a in range(b + 1, n):  # later
            vs = (flux[a] - flux[b]) / np.hypot(err[a], err[b])
            if abs(vs) > best[0]:
                best = (abs(vs), vs, 2 * (flux[a] - flux[b]) / (flux[a] + flux[b]))
    got["vs"], got["m"] = best[1:]
    return got


def test_all_curves_at_once_equal_every_pair_of_epochs_tried():
    """`curves` on 400 light curves (0-80 epochs; steady, stepped, flaring, flat, unequal
    errors, left-out measurements) equals the exhaustive metrics of each curve: its search for
    the most significant pair skips pairs, never the best one."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 80, 400)
    sizes[:4] = [0, 1, 2, 3]
    curve = np.repeat(np.arange(len(sizes)), sizes)
    err = rng.uniform(0.01, 0.2, len(curve)) * rng.choice([1, 10], len(curve), p=[0.9, 0.1])
    flux = rng.normal(1, 1, len(curve)) * err + 1
    kind = rng.integers(0, 4, len(sizes))[curve]
    t = np.arange(len(curve)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    flux = np.where(kind == 1, flux + 3 * (t > 20), flux)  # a step
    flux = np.where((kind == 2) & (t == 7), flux + 5, flux)  # a flare
    flux = np.where(kind == 3, 0.5, flux)  # flat: every pair has Vs 0
    flux[rng.random(len(curve)) < 0.03] = np.nan
    err[rng.random(len(curve)) < 0.02] = 0.0
    reference = np.full(len(curve), 1.0)
    got = variability.curves(curve, flux, err, reference, len(sizes))
    for c in range(len(sizes)):
        want = exhaustive(*(a[curve == c] for a in (flux, err, reference)))
        have = {name: got[name][c] for name in variability.METRICS}
        assert have == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), c


def test_the_pair_search_holds_when_few_pairs_fit_at_a_time(monkeypatch):
    monkeypatch.setattr(variability, "PAIR_CHUNK", 3)
    rng = np.random.default_rng(8)
    curve = np.repeat(np.arange(30), 12)
    flux, err = rng.normal(1, 0.1, len(curve)), rng.uniform(0.05, 0.1, len(curve))
    got = variability.curves(curve, flux, err, flux, 30)
    for c in range(30):
        want = exhaustive(flux[curve == c], err[curve == c], flux[curve == c])
        assert (got["vs"][c], got["m"][c]) == pytest.approx((want["vs"], want["m"]), rel=1e-12)


@pytest.mark.parametrize("n_epochs", [2, 5, 40])
def test_chance_thresholds_are_passed_by_that_fraction_of_constant_sources(n_epochs):
    """Simulated constant sources (unit Gaussian errors): the fraction whose best pair reaches
    `chance_vs(n, 0.02)`, and whose eta reaches `chance_eta(n, 0.02)`, is 2 % (within 4 sigma
    of 20,000 draws), for few epochs and many."""
    rng = np.random.default_rng(n_epochs)
    n_curves = 20_000
    flux = 10 + rng.normal(size=n_curves * n_epochs)
    curve = np.repeat(np.arange(n_curves), n_epochs)
    got = variability.curves(curve, flux, np.ones_like(flux), flux, n_curves)
    tolerance = 4 * np.sqrt(0.02 * 0.98 / n_curves)
    assert np.mean(np.abs(got["vs"]) >= variability.chance_vs(n_epochs, 0.02)) == pytest.approx(0.02, abs=tolerance)
    assert np.mean(got["eta"] >= variability.chance_eta(n_epochs, 0.02)) == pytest.approx(0.02, abs=tolerance)


def test_thresholds_rise_with_the_number_of_epochs():
    """With 2 epochs the literature's |Vs| 4.3 is the 1.7e-5 chance level; eta 6 is not
    significant with 2 epochs (a constant source exceeds it in 1.4 %) but is with 30; a |Vs| of
    5 is significant for 2 epochs, not for 1,000."""
    assert variability.chance_vs(2, 1.708e-5) == pytest.approx(4.3, abs=1e-3)
    row = {"n_epochs": 2, "max_snr": 30.0, "eta": 6.0, "v": 0.3, "vs": 0.0, "m": 0.0}
    assert variability.is_candidate(row, CFG) == ""
    assert "eta" in variability.is_candidate({**row, "n_epochs": 30}, CFG)
    row = {"n_epochs": 2, "max_snr": 30.0, "eta": 1.0, "v": 0.01, "vs": 5.0, "m": 0.5}
    assert "Vs" in variability.is_candidate(row, CFG)
    assert variability.is_candidate({**row, "n_epochs": 1000}, CFG) == ""
