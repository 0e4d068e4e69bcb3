"""Phase self-calibration of one group on its bright sources, before they are subtracted.

The calibration comes from a calibrator transit hours away; antenna phases drift meanwhile
(a few degrees), and a 10 Jy source's visibilities then carry errors no source model can
take out: the subtraction leaves its sidelobes in the image (seen: 2.2 x the thermal noise
around a 15 Jy calibrator three groups after its own). Here each antenna gets a phase per
polarisation and solution interval, solved against the fitted bright-source model
(`subtract.fitted_positions`: fluxes and positions) on the flux fit's channels:

- sufficient statistics per integration and baseline, Z_ij = sum V_ij conj(M_ij) over
  channels, summed over each solution interval's integrations, then alternating updates
  g_i = phase of sum_j Z_ij g_j (damped every second step, as StEFCal) until the phases
  move by less than `TOLERANCE`;
- the phases' plane over the antennas' east, north and up positions is taken out: a plane
  is a shift of the whole field, which self-calibration on a catalogue would otherwise hand
  from the catalogue to the data (the image QA measures that shift: it must stay in);
- amplitudes are left alone (the flux scale stays the calibrator's);
- a group is self-calibrated when its model is bright enough for the solution to be right:
  the median antenna's expected phase error over the whole group, 1 / sqrt(sum_j sum w
  |M_ij|^2) radians with w the data's weights (1 / sigma^2 of a visibility's real and of its
  imaginary part, from the SEFD), within `MAX_PHASE_ERROR_DEG`. Drifting phases cost flux
  where they are left: an antenna phase error of sigma radians decorrelates every visibility
  by exp(-sigma^2), 1-2 % twenty minutes after the calibrator on the simulated nights
  (20 deg/h per antenna), 8 % an hour after (bench/hour); a solution good to 1.5 deg costs
  0.07 %. (It was once "a source of 1 Jy apparent": most groups have none, and their flux
  scale drifted.)
- the group is cut into as many solution intervals of consecutive integrations as keep each
  interval's expected error within that limit (k intervals: sqrt(k) times the whole group's
  error), at most one per integration, since phases drift within a group too (+-0.8 deg over
  five minutes at 20 deg/h); a faint model's group gets one interval. Measured: on a +30
  survey-like night the sources of the group before the calibrator's came out with 15-25 %
  higher SNR (lower image noise), fluxes within 0.2 %; on a +40 night nothing changed (the
  residual around its 10 Jy calibrator, 2 x thermal, is not phase drift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from casacore.tables import table

from ..calibration import model
from ..layout import Layout
from ..sky import Catalog

MAX_PHASE_ERROR_DEG = 1.5  # the median antenna's expected solution error: its noise costs exp(-sigma^2) = 0.9993
ITERATIONS = 200
TOLERANCE = 1e-9  # radians
PHASE_DECIMALS = 6  # radians: far below the solution's precision, the same in every run


def statistics(ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, channels: int):
    """(times, Z (n_times, 2, n_ant, n_ant) complex, W (n_times, 2, n_ant, n_ant)): the MS's
    integration TIMEs and, per integration, parallel hand and baseline, the weighted sums of
    DATA x conj(model) and of |model|^2 (the data's WEIGHT: 1 / sigma^2 in Jy^-2) over the
    unflagged samples of about ``channels`` channels spread over the band (i < j as the rows
    hold them)."""
    n_ant = len(layout.enu)
    with table(ms, ack=False) as main:
        prediction = model.ms_prediction(main, sources, pointing_dec_rad, layout, dish_m)
        times = np.unique(main.getcol("TIME"))
        z, w = np.zeros((len(times), 2, n_ant, n_ant), complex), np.zeros((len(times), 2, n_ant, n_ant))
        stride = max(1, sum(len(f) for _, _, f in prediction.windows) // channels)
        a1, a2 = main.getcol("ANTENNA1"), main.getcol("ANTENNA2")
        for first_row, n_rows, freqs in prediction.windows:
            rows = slice(first_row, first_row + n_rows)
            data = main.getcolslice("DATA", [0, 0], [-1, -1], [stride, 1], startrow=first_row, nrow=n_rows)
            flags = main.getcolslice("FLAG", [0, 0], [-1, -1], [stride, 1], startrow=first_row, nrow=n_rows)
            weight = main.getcol("WEIGHT", startrow=first_row, nrow=n_rows)
            predicted = prediction.stokes_i(first_row, n_rows, freqs[::stride])  # (rows, channels)
            cross = a1[rows] != a2[rows]
            at = (prediction.t_index[rows], a1[rows], a2[rows])
            for hand, corr in enumerate(np.flatnonzero(prediction.parallel)):
                used = ~flags[..., corr] & np.isfinite(data[..., corr]) & cross[:, None]
                wm = np.where(used, weight[:, corr, None] * np.conj(predicted), 0)
                np.add.at(z[:, hand], at, (np.where(used, data[..., corr], 0) * wm).sum(1))
                np.add.at(w[:, hand], at, (wm * predicted).real.sum(1))
    return times, z, w


def solve_phases(z: np.ndarray, w: np.ndarray, enu: np.ndarray) -> np.ndarray:
    """(n_ant,) unit gains g with DATA_ij ~ g_i conj(g_j) MODEL_ij, for one hand's statistics
    (`statistics`), referenced to the antenna with the most weight, their plane over the
    antennas' positions removed; 1 for antennas without data."""
    full, weight = z + z.conj().T, w + w.T  # every baseline both ways
    has = weight.sum(1) > 0
    g = np.ones(len(z), complex)
    for step in range(ITERATIONS):
        new = np.where(has, np.exp(1j * np.angle(full @ g)), 1.0)
        if step % 2:  # damped every second step: alternating updates otherwise oscillate
            new = np.exp(1j * np.angle(new + g))
        moved = np.max(np.abs(np.angle(new * np.conj(g))))
        g = new
        if moved < TOLERANCE:
            break
    ref = int(np.argmax(weight.sum(1)))
    phase = np.angle(g * np.conj(g[ref]))
    if has.sum() > 4:  # the plane over east, north, up (and a constant) is a shift of the field: not ours to make
        design = np.c_[np.ones(has.sum()), enu[has]]
        plane, *_ = np.linalg.lstsq(
            design * np.sqrt(weight.sum(1)[has, None]), phase[has] * np.sqrt(weight.sum(1)[has]), rcond=None
        )
        phase[has] -= design @ plane
    return np.where(has, np.exp(1j * np.round(phase, PHASE_DECIMALS)), 1.0)


@dataclass(frozen=True)
class PhaseGains:
    """A group's self-calibration: unit gains ``values`` (n_times, 2 parallel hands, n_ant)
    at the MS's integration TIMEs ``times`` (s), the same within each of ``intervals``
    solution intervals."""

    times: np.ndarray
    values: np.ndarray
    intervals: int

    def baseline(self, hand: int, a1: np.ndarray, a2: np.ndarray, time: np.ndarray) -> np.ndarray:
        """g_i conj(g_j) of ``hand`` for MS rows of antennas ``a1``, ``a2`` and TIME ``time``."""
        t = np.searchsorted(self.times, time)
        return self.values[t, hand, a1] * np.conj(self.values[t, hand, a2])


def solution_intervals(whole_group_error_deg: float, n_times: int) -> int:
    """How many solution intervals a group whose single solution's expected error is
    ``whole_group_error_deg`` affords with each within `MAX_PHASE_ERROR_DEG` (1 to ``n_times``)."""
    return int(np.clip((MAX_PHASE_ERROR_DEG / whole_group_error_deg) ** 2, 1, n_times))


def phase_gains(
    ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, channels: int
) -> PhaseGains | None:
    """The self-calibration of a group's two parallel hands on its bright-source model
    ``sources`` (at their fitted fluxes) on about ``channels`` channels, in as many intervals
    as the model's brightness affords (`solution_intervals`), or None when the model is too
    faint for one (`expected_phase_error_deg` above `MAX_PHASE_ERROR_DEG`)."""
    if sources.table.empty:
        return None
    times, z, w = statistics(ms, sources, pointing_dec_rad, layout, dish_m, channels)
    error = expected_phase_error_deg(w.sum(axis=0))
    if error > MAX_PHASE_ERROR_DEG:
        return None
    enu = np.asarray(layout.enu, float)
    values = np.empty((len(times), 2, len(enu)), complex)
    chunks = np.array_split(np.arange(len(times)), solution_intervals(error, len(times)))
    for chunk in chunks:
        zc, wc = z[chunk].sum(axis=0), w[chunk].sum(axis=0)
        values[chunk] = np.stack([solve_phases(zc[hand], wc[hand], enu) for hand in range(2)])
    return PhaseGains(times, values, len(chunks))


def expected_phase_error_deg(w: np.ndarray) -> float:
    """The median over antennas with data (both hands) of the phase solution's expected error,
    1 / sqrt(sum_j W_ij) radians, from `statistics`' weighted model power W (WEIGHT is
    1 / sigma^2 of each of a visibility's real and imaginary parts, as CASA's: a phase error
    moves the model by |M| dphi along one of them)."""
    information = (w + np.swapaxes(w, 1, 2)).sum(axis=2)
    return (
        float(np.degrees(np.median(1 / np.sqrt(information[information > 0])))) if (information > 0).any() else np.inf
    )


def corrected(data: np.ndarray, parallel: np.ndarray, a1, a2, time, gains: PhaseGains | None) -> np.ndarray:
    """``data`` (rows, channels, correlations) of rows of antennas ``a1``, ``a2`` and TIME
    ``time``, its parallel hands divided by g_i conj(g_j) (``gains`` None: unchanged)."""
    if gains is None:
        return data
    out = data.copy()
    for hand, corr in enumerate(np.flatnonzero(parallel)):
        out[..., corr] /= gains.baseline(hand, a1, a2, time)[:, None]
    return out


def phase_rms_deg(gains: PhaseGains) -> float:
    """The rms (deg) of the phases applied, over the antennas that had any (the MS lists
    every station; those without data keep phase 0 and are left out) and all integrations."""
    phases = np.degrees(np.angle(gains.values))
    moved = (phases != 0).any(axis=(0, 1))
    return round(float(phases[..., moved].std()), 3) if moved.any() else 0.0
