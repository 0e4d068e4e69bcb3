"""The quality gate of calibration tables: metrics, a verdict with reasons, and plots.

Per table: fraction of flagged solutions, median SNR, phase scatter (channel to channel for
a bandpass, integration to integration for gains: the rms of second differences over
sqrt(6), which a smooth delay or drift does not raise), the per-antenna amplitude range and
the antennas lost (with unflagged data in the Measurement Set but no good solution). Only
antennas that have data count: an antenna missing from the array is not a solver failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from casacore.tables import table

from ..settings import CalibrationQA


@dataclass
class Solutions:
    """A calibration table as arrays: one series per (antenna row, spectral window)."""

    kind: str  # bandpass, gains or delay
    values: dict  # (ant, spw) -> (n_solutions, n_chan, n_pol): complex gains or delays (ns)
    flags: dict  # (ant, spw) -> bool, same shape
    snr: dict
    times_s: dict  # (ant, spw) -> (n_solutions,)
    freqs_hz: list  # per spectral window

    @property
    def antennas(self) -> list[int]:
        return sorted({ant for ant, _ in self.values})


def read_solutions(path: Path, kind: str) -> Solutions:
    """Read a CASA calibration table (CPARAM, or FPARAM for delays)."""
    with table(str(path), ack=False) as cal:
        column = "FPARAM" if kind == "delay" else "CPARAM"
        values, flags, snr = cal.getcol(column), cal.getcol("FLAG"), cal.getcol("SNR")
        ant, spw, time_s = cal.getcol("ANTENNA1"), cal.getcol("SPECTRAL_WINDOW_ID"), cal.getcol("TIME")
    with table(f"{path}/SPECTRAL_WINDOW", ack=False) as spws:
        freqs = [spws.getcell("CHAN_FREQ", k) for k in range(spws.nrows())]
    out = Solutions(kind, {}, {}, {}, {}, freqs)
    for key in sorted(set(zip(ant.tolist(), spw.tolist()))):
        rows = np.flatnonzero((ant == key[0]) & (spw == key[1]))
        rows = rows[np.argsort(time_s[rows])]
        out.values[key], out.flags[key], out.snr[key] = values[rows], flags[rows], snr[rows]
        out.times_s[key] = time_s[rows]
    return out


def _phase_scatter_deg(z: np.ndarray, flags: np.ndarray) -> float:
    """Rms second difference of the phase along axis 0 of unflagged points, over sqrt(6) (degrees)."""
    z = z[~flags]
    if len(z) < 3:
        return float("nan")
    step = np.angle(z[1:] * np.conj(z[:-1]))
    curvature = np.angle(np.exp(1j * np.diff(step)))
    return float(np.rad2deg(np.sqrt(np.mean(curvature**2) / 6)))


def table_qa(sol: Solutions, antennas_with_data: dict[int, str], limits: CalibrationQA) -> dict:
    """Metrics and verdict of one table; ``antennas_with_data`` maps ANTENNA rows to names."""
    n_ant = len(antennas_with_data)
    flagged, total, snrs, per_antenna = 0, 0, [], {}
    size = max((v.size for v in sol.values.values()), default=0)
    n_spw = len(sol.freqs_hz)
    for ant, name in antennas_with_data.items():
        keys = [k for k in sol.values if k[0] == ant]
        ant_flags = [sol.flags[k] for k in keys]
        n_sol = sum(f.size for f in ant_flags) if keys else size * n_spw
        n_flag = sum(int(f.sum()) for f in ant_flags) if keys else n_sol
        flagged, total = flagged + n_flag, total + n_sol
        snrs += [sol.snr[k][~sol.flags[k]] for k in keys]
        entry = {"name": name, "flagged_fraction": round(n_flag / max(n_sol, 1), 4)}
        if n_flag < n_sol and sol.kind != "delay":
            good = np.concatenate([np.abs(sol.values[k][~sol.flags[k]]) for k in keys])
            # along channels for a bandpass, along time for gains
            series = [
                (
                    np.moveaxis(sol.values[k], 1, 0) if sol.kind == "bandpass" else sol.values[k],
                    np.moveaxis(sol.flags[k], 1, 0) if sol.kind == "bandpass" else sol.flags[k],
                )
                for k in keys
            ]
            scatter = [
                _phase_scatter_deg(v[:, i, p], f[:, i, p])
                for v, f in series
                for i in range(v.shape[1])
                for p in range(v.shape[2])
            ]
            entry["amplitude_median"] = round(float(np.median(good)), 4)
            entry["phase_scatter_deg"] = round(float(np.nanmax(scatter)), 3) if np.isfinite(scatter).any() else None
        per_antenna[ant] = entry
    snr = np.concatenate(snrs) if snrs else np.array([])
    lost = [e["name"] for e in per_antenna.values() if e["flagged_fraction"] >= 1.0]
    noisy = [
        e["name"] for e in per_antenna.values() if (e.get("phase_scatter_deg") or 0) > limits.max_phase_scatter_deg
    ]
    lo, hi = limits.amplitude_range
    odd_amp = [
        e["name"] for e in per_antenna.values() if "amplitude_median" in e and not lo <= e["amplitude_median"] <= hi
    ]
    metrics = {
        "kind": sol.kind,
        "n_antennas_with_data": n_ant,
        "flagged_fraction": round(flagged / max(total, 1), 4),
        # CASA's delay (K) solver leaves its SNR column at zero: no SNR for delay tables
        "snr_median": None if sol.kind == "delay" else (round(float(np.median(snr)), 2) if snr.size else 0.0),
        "phase_scatter_deg_median": _median_of(per_antenna, "phase_scatter_deg"),
        "amplitude_min": _extreme_of(per_antenna, "amplitude_median", min),
        "amplitude_max": _extreme_of(per_antenna, "amplitude_median", max),
        "antennas_lost": lost,
        "antennas_phase_scatter": noisy,
        "antennas_amplitude_out_of_range": odd_amp,
        "per_antenna": {e["name"]: {k: v for k, v in e.items() if k != "name"} for e in per_antenna.values()},
    }
    reasons = []
    if metrics["flagged_fraction"] > limits.max_flagged_fraction:
        reasons.append(
            f"{sol.kind}: {metrics['flagged_fraction']:.1%} of solutions flagged "
            f"(limit {limits.max_flagged_fraction:.0%})"
        )
    if metrics["snr_median"] is not None and metrics["snr_median"] < limits.min_median_snr:
        reasons.append(f"{sol.kind}: median SNR {metrics['snr_median']} (limit {limits.min_median_snr})")
    bad = set(lost) | set(noisy) | set(odd_amp)
    if len(bad) > limits.max_bad_antenna_fraction * n_ant:
        reasons.append(
            f"{sol.kind}: {len(bad)} of {n_ant} antennas bad ({len(lost)} lost, {len(noisy)} with phase scatter "
            f"> {limits.max_phase_scatter_deg} deg, {len(odd_amp)} with amplitude outside [{lo}, {hi}]; "
            f"limit {limits.max_bad_antenna_fraction:.0%})"
        )
    metrics["verdict"] = "bad" if reasons else "good"
    metrics["reasons"] = reasons
    return metrics


def _median_of(per_antenna: dict, key: str):
    values = [e[key] for e in per_antenna.values() if e.get(key) is not None]
    return round(float(np.median(values)), 3) if values else None


def _extreme_of(per_antenna: dict, key: str, pick):
    values = [e[key] for e in per_antenna.values() if e.get(key) is not None]
    return pick(values) if values else None


def plot(sol: Solutions, title: str, path: Path) -> None:
    """PNG of a table: amplitude and phase per antenna against frequency (bandpass) or time
    (gains); delays per antenna. One column per polarisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_pol = next(iter(sol.values.values())).shape[2] if sol.values else 1
    rows = 1 if sol.kind == "delay" else 2
    fig, axes = plt.subplots(rows, n_pol, figsize=(6 * n_pol, 3.2 * rows), squeeze=False, sharex=True)
    t0 = min((t.min() for t in sol.times_s.values()), default=0.0)
    for (ant, spw), values in sol.values.items():
        flags = sol.flags[(ant, spw)]
        for p in range(n_pol):
            if sol.kind == "delay":
                y = np.where(flags[:, 0, p], np.nan, values[:, 0, p])
                axes[0, p].plot(np.full(len(y), ant), y, ".", ms=3)
                continue
            if sol.kind == "bandpass":
                x, z = sol.freqs_hz[spw] / 1e6, np.where(flags[0, :, p], np.nan, values[0, :, p])
            else:
                x, z = (sol.times_s[(ant, spw)] - t0) / 60.0, np.where(flags[:, 0, p], np.nan, values[:, 0, p])
            phase = np.rad2deg(np.angle(z))
            phase[1:][np.abs(np.diff(phase)) > 180] = np.nan  # no vertical line across a wrap
            axes[0, p].plot(x, np.abs(z), lw=0.6, alpha=0.6)
            axes[1, p].plot(x, phase, lw=0.6, alpha=0.6)
    for p in range(n_pol):
        axes[0, p].set_title(f"{title}: polarisation {p}", fontsize=9)
        if sol.kind == "delay":
            axes[0, p].set(xlabel="antenna row", ylabel="delay (ns)")
            continue
        axes[0, p].set_ylabel("amplitude")
        axes[1, p].set(ylabel="phase (deg)", ylim=(-180, 180))
        axes[1, p].set_xlabel("frequency (MHz)" if sol.kind == "bandpass" else "minutes from first solution")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
