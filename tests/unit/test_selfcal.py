"""Phase self-calibration (contimg.imaging.selfcal): the antenna phases come back from the
baselines' statistics, a shift of the whole field does not."""

import numpy as np
import pytest

from contimg.imaging import selfcal

RNG = np.random.default_rng(21)
N_ANT = 24
ENU = np.c_[RNG.uniform(-1200, 1200, N_ANT), RNG.uniform(-400, 400, N_ANT), RNG.normal(0, 2, N_ANT)]


def stats(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free Z, W of DATA_ij = g_i conj(g_j) MODEL_ij on baselines i < j (random model power)."""
    g = np.exp(1j * phases)
    w = np.triu(RNG.uniform(0.5, 2.0, (N_ANT, N_ANT)), k=1)
    return np.outer(g, g.conj()) * w, w


def without_plane(phases: np.ndarray, weight: np.ndarray) -> np.ndarray:
    design = np.c_[np.ones(N_ANT), ENU]
    plane, *_ = np.linalg.lstsq(design * np.sqrt(weight[:, None]), phases * np.sqrt(weight), rcond=None)
    return phases - design @ plane


def test_antenna_phases_are_recovered_but_not_their_plane():
    truth = np.radians(RNG.normal(0, 8, N_ANT))
    z, w = stats(truth)
    solved = np.angle(selfcal.solve_phases(z, w, ENU))
    weight = (w + w.T).sum(1)
    expected = without_plane(truth - truth[np.argmax(weight)], weight)
    assert np.max(np.abs(np.angle(np.exp(1j * (solved - expected))))) < 1e-5
    assert np.degrees(np.std(solved)) > 4  # the errors are there to be found


def test_a_shift_of_the_field_is_left_in_the_data():
    """A phase plane over the antennas is a source position offset: the QA must still see it."""
    plane = 1e-3 * ENU[:, 0] - 2e-3 * ENU[:, 1] + 0.3
    z, w = stats(plane)
    assert np.max(np.abs(np.angle(selfcal.solve_phases(z, w, ENU)))) < 1e-5


def test_the_expected_phase_error_is_the_solutions_scatter_in_noise():
    """Noisy baselines (complex noise of variance 1 / weight per sample, model amplitude 1): the
    solved phases scatter about the truth as `expected_phase_error_deg` says, within 12 %, so a
    group is self-calibrated only where its solution is better than MAX_PHASE_ERROR_DEG."""
    rng = np.random.default_rng(5)
    samples, weight = 400, 0.02  # per baseline: W = samples x weight x |M|^2 = 8
    w = np.triu(np.full((N_ANT, N_ANT), samples * weight), k=1)
    errors = []
    for _ in range(40):
        truth = rng.normal(0, 0.3, N_ANT)
        g = np.exp(1j * truth)
        # sum over samples of weight x noise: complex, variance samples x weight
        noise = (rng.normal(size=(N_ANT, N_ANT)) + 1j * rng.normal(size=(N_ANT, N_ANT))) * np.sqrt(samples * weight / 2)
        z = np.triu(weight * samples * np.outer(g, g.conj()) + noise, k=1)
        solved = np.angle(selfcal.solve_phases(z, w, ENU))
        expected = without_plane(truth - truth[0], (w + w.T).sum(1))  # equal weights: antenna 0 is the reference
        errors.append(np.angle(np.exp(1j * (solved - expected))))
    predicted = selfcal.expected_phase_error_deg(np.stack([w, w]))
    assert predicted == np.degrees(1 / np.sqrt(2 * (N_ANT - 1) * samples * weight))
    # the removed plane's 4 parameters take 4 of the 24 degrees of freedom (a factor 1.41
    # off, as without the 2 in the formula, would fail)
    assert np.degrees(np.std(errors)) == pytest.approx(predicted * np.sqrt((N_ANT - 4) / N_ANT), rel=0.12)
    assert selfcal.expected_phase_error_deg(np.zeros((2, N_ANT, N_ANT))) == np.inf


def test_antennas_without_data_keep_unit_gain_and_data_is_corrected_by_the_gains():
    truth = np.radians(RNG.normal(0, 5, N_ANT))
    z, w = stats(truth)
    z[:, 3], z[3, :], w[:, 3], w[3, :] = 0, 0, 0, 0
    gains = selfcal.solve_phases(z, w, ENU)
    assert gains[3] == 1 and np.allclose(np.abs(gains), 1)
    both_hands = np.stack([gains, gains])
    assert selfcal.phase_rms_deg(both_hands) == round(float(np.degrees(np.angle(np.delete(gains, 3))).std()), 3)
    a1, a2 = np.array([0, 1, 2]), np.array([1, 2, 5])
    model = np.ones((3, 4, 4), complex)  # rows, channels, correlations XX XY YX YY
    both = np.stack([gains, gains])
    data = model * (gains[a1] * gains[a2].conj())[:, None, None]
    fixed = selfcal.corrected(data, np.array([True, False, False, True]), a1, a2, both)
    assert np.allclose(fixed[..., [0, 3]], 1) and np.allclose(fixed[..., [1, 2]], data[..., [1, 2]])
    assert selfcal.corrected(data, np.array([True, False, False, True]), a1, a2, None) is data


def test_a_groups_antenna_phases_come_back_from_its_bright_sources(tmp_path):
    """A simulated group (noise only) whose parallel hands are given known antenna phases
    (6 deg rms, each hand its own): the solution on its bright sources is those phases less
    their plane, to 0.3 deg."""
    from casacore.tables import table

    from conftest import NOISE_ONLY, calibrators, convert_group, demo_night
    from contimg import layout, sky
    from contimg.calibration import model
    from contimg.imaging import image, subtract

    scene, files, cfg = demo_night(tmp_path, 1, corruptions=NOISE_ONLY)
    ms = str(convert_group(files, 0, tmp_path, cfg, aoflagger=False))
    site = layout.site_location(cfg["instrument"]["site"])
    ants = image.ms_layout(ms, site)
    truth = np.radians(np.random.default_rng(4).normal(0, 6, (2, len(ants.enu))))
    parallel = np.flatnonzero(model.parallel_hands(ms))
    with table(ms, readonly=False, ack=False) as main:
        data, a1, a2 = (main.getcol(c) for c in ("DATA", "ANTENNA1", "ANTENNA2"))
        for hand, corr in enumerate(parallel):
            data[..., corr] *= np.exp(1j * (truth[hand, a1] - truth[hand, a2]))[:, None]
        main.putcol("DATA", data)
    cals = calibrators(cfg)
    bright = model.select_sources(
        cals,
        sky.read_catalog(cfg["imaging"]["catalog"]),
        model.phase_centre(ms),
        model.mean_frequency(ms),
        4.65,
        0.05,
        10,
    )
    pointing = np.radians(cfg["simulation"]["pointing_dec_deg"])
    gains = selfcal.phase_gains(ms, sky.Catalog(bright), pointing, ants, 4.65, subtract.FIT_CHANNELS)
    _, w = selfcal.statistics(ms, sky.Catalog(bright), pointing, ants, 4.65, subtract.FIT_CHANNELS)
    for hand in range(2):
        weight = (w[hand] + w[hand].T).sum(1)
        ref = np.argmax(weight)
        design = np.c_[np.ones(len(weight)), ants.enu]
        relative = truth[hand] - truth[hand, ref]
        plane, *_ = np.linalg.lstsq(design * np.sqrt(weight[:, None]), relative * np.sqrt(weight), rcond=None)
        expected = relative - design @ plane
        error = np.degrees(np.angle(gains[hand] * np.exp(-1j * expected)))[weight > 0]  # the MS lists every station
        assert len(error) >= 40 and np.abs(error).max() < 0.3, np.abs(error).max()
        assert (gains[hand][weight == 0] == 1).all()
