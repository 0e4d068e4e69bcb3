"""Variability metrics against hand-computed values, and their edge cases."""

import numpy as np
import pytest

from contimg.photometry import variability
from contimg.settings import Variability

CFG = Variability(min_epochs=2, vs_min=4.3, m_min=0.26, eta_min=5.0, v_min=0.1, min_snr=5.0)


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
