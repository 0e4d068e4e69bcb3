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
    """Noisy baselines (noise of variance 1 / weight in each of a sample's real and imaginary
    parts, as the MS's WEIGHT says; model amplitude 1): the solved phases scatter about the
    truth as `expected_phase_error_deg` says, within 12 %, so a group is self-calibrated only
    where its solution is better than MAX_PHASE_ERROR_DEG."""
    rng = np.random.default_rng(5)
    samples, weight = 400, 0.02  # per baseline: W = samples x weight x |M|^2 = 8
    w = np.triu(np.full((N_ANT, N_ANT), samples * weight), k=1)
    errors = []
    for _ in range(40):
        truth = rng.normal(0, 0.3, N_ANT)
        g = np.exp(1j * truth)
        # sum over samples of weight x noise: variance samples x weight in each part
        noise = (rng.normal(size=(N_ANT, N_ANT)) + 1j * rng.normal(size=(N_ANT, N_ANT))) * np.sqrt(samples * weight)
        z = np.triu(weight * samples * np.outer(g, g.conj()) + noise, k=1)
        solved = np.angle(selfcal.solve_phases(z, w, ENU))
        expected = without_plane(truth - truth[0], (w + w.T).sum(1))  # equal weights: antenna 0 is the reference
        errors.append(np.angle(np.exp(1j * (solved - expected))))
    predicted = selfcal.expected_phase_error_deg(np.stack([w, w]))
    assert predicted == np.degrees(1 / np.sqrt((N_ANT - 1) * samples * weight))
    # the removed plane's 4 parameters take 4 of the 24 degrees of freedom (a factor 1.41
    # off, as with the noise's complex variance taken for WEIGHT's, would fail)
    assert np.degrees(np.std(errors)) == pytest.approx(predicted * np.sqrt((N_ANT - 4) / N_ANT), rel=0.12)
    assert selfcal.expected_phase_error_deg(np.zeros((2, N_ANT, N_ANT))) == np.inf


def test_antennas_without_data_keep_unit_gain_and_data_is_corrected_by_the_gains():
    def without_antenna_3(phases):
        z, w = stats(phases)
        z[:, 3], z[3, :], w[:, 3], w[3, :] = 0, 0, 0, 0
        return selfcal.solve_phases(z, w, ENU)

    truth = np.radians(RNG.normal(0, 5, N_ANT))
    gains = without_antenna_3(truth)
    assert gains[3] == 1 and np.allclose(np.abs(gains), 1)
    later = without_antenna_3(truth + np.radians(RNG.normal(0, 2, N_ANT)))  # a second interval
    solution = selfcal.PhaseGains(
        np.array([10.0, 20.0]), np.stack([np.stack([gains, gains]), np.stack([later] * 2)]), 2
    )
    applied = np.degrees(
        np.angle(np.r_[np.delete(gains, 3), np.delete(gains, 3), np.delete(later, 3), np.delete(later, 3)])
    )
    assert selfcal.phase_rms_deg(solution) == round(float(applied.std()), 3)
    a1, a2, time = np.array([0, 1, 2, 0]), np.array([1, 2, 5, 1]), np.array([10.0, 10.0, 10.0, 20.0])
    model = np.ones((4, 4, 4), complex)  # rows, channels, correlations XX XY YX YY
    g = np.where(time[:, None] == 10.0, gains[None, :], later[None, :])  # each row's interval's gains
    rows = np.arange(4)
    data = model * (g[rows, a1] * g[rows, a2].conj())[:, None, None]
    fixed = selfcal.corrected(data, np.array([True, False, False, True]), a1, a2, time, solution)
    assert np.allclose(fixed[..., [0, 3]], 1) and np.allclose(fixed[..., [1, 2]], data[..., [1, 2]])
    assert selfcal.corrected(data, np.array([True, False, False, True]), a1, a2, time, None) is data


def test_a_bright_model_affords_an_interval_per_integration_and_a_faint_one_one_interval():
    """k intervals each carry sqrt(k) x the whole group's error: as many as stay within the limit."""
    limit = selfcal.MAX_PHASE_ERROR_DEG
    assert selfcal.solution_intervals(limit, 24) == 1
    assert selfcal.solution_intervals(limit / 3, 24) == 9
    assert selfcal.solution_intervals(limit / 100, 24) == 24


def test_a_groups_drifting_antenna_phases_come_back_from_its_bright_sources(tmp_path):
    """A simulated group (noise only) whose parallel hands are given known antenna phases
    (6 deg rms, each hand its own) drifting through the group (3 deg rms from first to last
    integration): each solution interval's phases are the truth's mean over its integrations
    less their plane, each antenna's within 5 x its expected error 1 / sqrt(sum_j W_ij)
    and their rms 0.8-1.2 x (the plane takes 4 of ~50 degrees of freedom); one interval for the
    whole group would leave the drift (the last integration's phases off by > 1 deg)."""
    from casacore.tables import table

    from conftest import NOISE_ONLY, calibrators, convert_group, demo_night
    from contimg import layout, sky
    from contimg.calibration import model
    from contimg.imaging import image, subtract

    scene, files, cfg = demo_night(tmp_path, 1, corruptions=NOISE_ONLY)
    ms = str(convert_group(files, 0, tmp_path, cfg, aoflagger=False))
    site = layout.site_location(cfg["instrument"]["site"])
    ants = image.ms_layout(ms, site)
    rng = np.random.default_rng(4)
    start, drift = rng.normal(0, 6, (2, len(ants.enu))), rng.normal(0, 3, (2, len(ants.enu)))
    parallel = np.flatnonzero(model.parallel_hands(ms))
    with table(ms, readonly=False, ack=False) as main:
        data, a1, a2, time = (main.getcol(c) for c in ("DATA", "ANTENNA1", "ANTENNA2", "TIME"))
        times = np.unique(time)
        along = (time - times[0]) / (times[-1] - times[0])  # 0 at the first integration, 1 at the last
        for hand, corr in enumerate(parallel):
            truth = np.radians(start[hand] + drift[hand] * along[:, None])  # (rows, antennas)
            rows = np.arange(len(time))
            data[..., corr] *= np.exp(1j * (truth[rows, a1] - truth[rows, a2]))[:, None]
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
    _, _, w = selfcal.statistics(ms, sky.Catalog(bright), pointing, ants, 4.65, subtract.FIT_CHANNELS)
    assert gains.intervals >= 4, gains.intervals
    assert gains.intervals == selfcal.solution_intervals(selfcal.expected_phase_error_deg(w.sum(0)), len(times))
    t_along = (times - times[0]) / (times[-1] - times[0])
    normalised = []
    for chunk in np.array_split(np.arange(len(times)), gains.intervals):
        wc = w[chunk].sum(axis=0)
        for hand in range(2):
            weight = (wc[hand] + wc[hand].T).sum(1)
            ref = np.argmax(weight)
            design = np.c_[np.ones(len(weight)), ants.enu]
            mean = start[hand] + drift[hand] * t_along[chunk].mean()
            relative = np.radians(mean - mean[ref])
            plane, *_ = np.linalg.lstsq(design * np.sqrt(weight[:, None]), relative * np.sqrt(weight), rcond=None)
            expected = relative - design @ plane
            solved = gains.values[chunk[0], hand]
            assert (gains.values[chunk, hand] == solved).all()  # one solution per interval
            error = np.angle(solved * np.exp(-1j * expected))[weight > 0]  # the MS lists every station
            normalised.append(error * np.sqrt(weight[weight > 0]))
            assert len(error) >= 40 and (solved[weight == 0] == 1).all()
    normalised = np.concatenate(normalised)
    assert np.abs(normalised).max() < 5 and 0.8 < np.std(normalised) < 1.2, (
        np.abs(normalised).max(),
        np.std(normalised),
    )
    # the drift is there to be followed: first and last interval differ by more than the allowance
    moved = np.degrees(np.angle(gains.values[-1] * np.conj(gains.values[0])))
    assert np.median(np.abs(moved[np.abs(moved) > 0])) > 1.0
