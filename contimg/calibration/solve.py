"""Solve a calibrator group with CASA: (delay), bandpass, then amplitude+phase gains.

The sequence is the standard one: an initial phase-only gain per integration (on the
central channels of each spectral window) so the bandpass (solint inf, one per spectral
window, normalised) is not smeared by phase drift, then gains with the bandpass applied. The reference antenna is chosen from the data:
antennas whose cross-correlations are least flagged and most coherent with the model
(a dead or phase-jumping antenna makes a poor reference), central ones first among equals.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.coordinates import EarthLocation
from casacore.tables import table

from .. import staging
from ..imaging import subtract
from ..layout import Layout
from ..msio import ms_layout
from ..settings import Calibration, as_record
from ..sky import Catalog
from . import model, qa
from .provenance import software_versions

MODEL_RECORD_COLUMNS = [
    "name",
    "ra_deg",
    "dec_deg",
    "flux_jy",
    "spectral_index",
    "role",
    "offset_deg",
    "apparent_jy",
    "fitted_scale",
]


MODEL_REFINEMENTS = 2  # passes whose calibrated data the field fluxes are fitted to (`refined_model`)


class CalibrationError(RuntimeError):
    """A solve that produced no table; the message names the step and CASA's complaint."""


@dataclass(frozen=True)
class RefantChoice:
    """Reference antennas in order of preference (ANTENNA table rows and names) with their scores."""

    rows: list[int]
    names: list[str]
    scores: list[float]

    @property
    def casa(self) -> str:
        """CASA's refant list (antenna ids; CASA falls back along it when one is flagged)."""
        return ",".join(str(r) for r in self.rows)


def antenna_quality(ms_path: str, channel_block: int = 128) -> pd.DataFrame:
    """Per antenna with cross-correlations in ``ms_path`` (ANTENNA row): unflagged fraction,
    coherence and score = their product, in [0, 1].

    Coherence is the median over the antenna's baselines and channels of
    |sum_t V M*| / sum_t |V M*|: 1 for stable gains, ~1/sqrt(n_t) for data whose phase
    jumps between integrations.
    """
    with table(ms_path, ack=False) as ms:
        a1, a2 = ms.getcol("ANTENNA1"), ms.getcol("ANTENNA2")
        cross = np.flatnonzero(a1 != a2)
        baselines, counts = np.unique(a1[cross] * 100000 + a2[cross], return_counts=True)
        if np.any(counts != counts[0]):
            raise ValueError(f"{ms_path}: baselines have different numbers of integrations")
        by_baseline = cross[np.lexsort((ms.getcol("TIME")[cross], a1[cross] * 100000 + a2[cross]))]
        n_chan, n_pol = ms.getcell("DATA", 0).shape
        coherence, unflagged = [], np.zeros(len(baselines))
        for start in range(0, n_chan, channel_block):
            blc, trc = [start, 0], [min(start + channel_block, n_chan) - 1, n_pol - 1]  # (channel, pol)
            data, model, flags = (ms.getcolslice(c, blc, trc)[by_baseline] for c in ("DATA", "MODEL_DATA", "FLAG"))
            vm = np.where(flags, 0, data * np.conj(model)).reshape(len(baselines), counts[0], -1)
            total = np.abs(vm).sum(axis=1)
            coherence.append(np.where(total > 0, np.abs(vm.sum(axis=1)) / np.where(total > 0, total, 1), np.nan))
            unflagged += (~flags).reshape(len(baselines), -1).sum(axis=1)
    coherence = np.hstack(coherence)
    unflagged /= counts[0] * n_chan * n_pol
    bl_a1, bl_a2 = baselines // 100000, baselines % 100000
    ants = np.unique(np.concatenate([bl_a1, bl_a2]))
    rows = []
    for ant in ants:
        mine = (bl_a1 == ant) | (bl_a2 == ant)
        values = coherence[mine]
        median = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
        rows.append({"row": int(ant), "unflagged": float(np.mean(unflagged[mine])), "coherence": median})
    quality = pd.DataFrame(rows)
    return quality.assign(score=quality["unflagged"] * quality["coherence"])


def choose_refant(quality: pd.DataFrame, layout: Layout, n_candidates: int) -> RefantChoice:
    """The best ``n_candidates`` antennas by `antenna_quality`; nearer the array's centre among equals."""
    rows, scores = quality["row"].to_numpy(), quality["score"].to_numpy()
    enu = layout.enu[rows]  # layout row = ANTENNA row (`msio.ms_layout`)
    distance = np.hypot(*(enu[:, :2] - np.median(enu[:, :2], axis=0)).T)
    order = np.lexsort((distance, -np.round(scores, 2)))[:n_candidates]
    names = [layout.names[i] for i in rows[order]]
    return RefantChoice([int(r) for r in rows[order]], names, [round(float(s), 4) for s in scores[order]])


def _run(step: str, task, caltable: Path, **kwargs) -> Path:
    """Run a CASA calibration task; raise CalibrationError if it left no table."""
    try:
        task(caltable=str(caltable), **kwargs)
    except Exception as err:  # CASA raises bare RuntimeErrors/AssertionErrors
        raise CalibrationError(f"{step} on {kwargs.get('vis')}: {err}") from err
    if not (caltable / "table.dat").exists():
        raise CalibrationError(
            f"{step} on {kwargs.get('vis')} wrote no table {caltable.name} (see the CASA messages in the log)"
        )
    return caltable


def central_channels(ms_path: str, fraction: float = 0.125) -> str:
    """CASA spw selection of the central ``fraction`` of each spectral window's channels: a
    phase averaged over the whole band decorrelates when an antenna's delay is a few ns."""
    with table(f"{ms_path}/SPECTRAL_WINDOW", ack=False) as spw:
        n_chan = spw.getcol("NUM_CHAN")
    width = np.maximum(1, (n_chan * fraction).astype(int))
    start = n_chan // 2 - width // 2
    return ",".join(f"{k}:{a}~{a + w - 1}" for k, (a, w) in enumerate(zip(start, width)))


def solve(
    ms_path: str,
    out_dir: Path,
    refant: RefantChoice,
    settings: Calibration,
    sources: pd.DataFrame,
    pointing_dec_rad: float,
    layout: Layout,
    dish_m: float,
) -> tuple[dict[str, Path], pd.DataFrame]:
    """Solve the tables of a calibrator group whose MODEL_DATA holds ``sources``; return
    {kind: path} and the model the tables were solved against.

    Kinds: ``delay`` (if configured), ``bandpass``, ``gains``. `MODEL_REFINEMENTS` + 1
    passes: residual RFI that AOFlagger left (tens of Jy against a 15 Jy calibrator bias a
    channel's bandpass by ~10 %) stands out in the residual data of the first pass and is
    flagged with CASA's rflag; after each pass but the last the field sources' fluxes are
    fitted to its calibrated data (`refined_model`, MODEL_DATA rewritten with them), and
    the tables solved again. Scratch tables stay in ``out_dir`` for the caller to remove.
    """
    refined = sources
    for k in range(MODEL_REFINEMENTS):
        tables = _solve_sequence(ms_path, out_dir / f"pass_{k + 1}", refant, settings)
        apply_tables(ms_path, list(tables.values()))
        if k == 0:
            flag_residual_outliers(ms_path, settings.residual_flag_scale)
        refined = refined_model(ms_path, sources, pointing_dec_rad, layout, dish_m)
        model.write_model(ms_path, Catalog(refined), pointing_dec_rad, layout, dish_m)
    return _solve_sequence(ms_path, out_dir, refant, settings), refined


def refined_model(
    ms_path: str, sources: pd.DataFrame, pointing_dec_rad: float, layout: Layout, dish_m: float
) -> pd.DataFrame:
    """``sources`` with each field source's flux fitted to the MS's CORRECTED_DATA
    (`imaging.subtract.fitted_fluxes`, no spectral index), the calibrator's kept (it sets the
    flux scale); column ``fitted_scale`` (1 for the calibrator).

    A model source that is not on the sky as the catalogue says (a survey's flux 10 % off, an
    entry with nothing there) is partly calibrated into the data: antenna gains solved against
    it take part of the difference into the visibilities, a ghost at its position (seen on a
    +40 night of 48 antennas: 4.5 mJy, 5.5 x the noise, where a 120 mJy survey entry had
    nothing, which made the entry a variable; on the demo array 1 % of an entry 0.7 deg
    south-east of the calibrator, a quarter of one 0.5 deg east, north or 1 deg east).
    Fitted on a pass's calibrated data, the model is within that fraction and the noise of
    the sky, and the next pass's ghost about that fraction of the last's (the empty entry
    0.5 deg east: 25 %, then 7.6 %, then 3 % left in the data)."""
    field = (sources["role"] != "calibrator").to_numpy()
    fitted = subtract.fitted_fluxes(
        ms_path,
        Catalog(sources),
        np.zeros(len(sources), bool),
        pointing_dec_rad,
        layout,
        dish_m,
        column="CORRECTED_DATA",
    ).table
    scale = np.where(field, np.clip(fitted["fitted_scale"].to_numpy(), 0.0, None), 1.0)
    return sources.assign(
        flux_jy=sources["flux_jy"] * scale, apparent_jy=sources["apparent_jy"] * scale, fitted_scale=scale
    )


def apply_tables(ms_path: str, tables: list[Path]) -> None:
    """CORRECTED_DATA = DATA corrected by ``tables`` (CASA applycal)."""
    from casatasks import applycal

    applycal(vis=ms_path, gaintable=[str(t) for t in tables], calwt=False, flagbackup=False)


def flag_residual_outliers(ms_path: str, scale: float) -> None:
    """Flag outliers of (CORRECTED_DATA - MODEL_DATA) with rflag at ``scale`` x the robust spread."""
    from casatasks import flagdata

    flagdata(
        vis=ms_path,
        mode="rflag",
        datacolumn="residual",
        timedevscale=scale,
        freqdevscale=scale,
        action="apply",
        flagbackup=False,
    )


def _solve_sequence(ms_path: str, out_dir: Path, refant: RefantChoice, settings: Calibration) -> dict[str, Path]:
    """(delay), initial phase, bandpass, gains into ``out_dir``."""
    from casatasks import bandpass, gaincal

    out_dir.mkdir(parents=True, exist_ok=True)
    common = {"vis": ms_path, "refant": refant.casa, "minsnr": settings.minsnr}
    tables: dict[str, Path] = {}
    prior: list[str] = []
    if settings.delay:
        tables["delay"] = _run("delay solve", gaincal, out_dir / "delay.k", gaintype="K", solint="inf", **common)
        prior.append(str(tables["delay"]))
    initial = _run(
        "initial phase solve",
        gaincal,
        out_dir / "initial_phase.g",
        gaintype="G",
        calmode="p",
        solint="int",
        spw=central_channels(ms_path),
        gaintable=prior,
        **common,
    )
    tables["bandpass"] = _run(
        "bandpass solve",
        bandpass,
        out_dir / "bandpass.b",
        solint="inf",
        bandtype="B",
        solnorm=True,
        gaintable=prior + [str(initial)],
        **common,
    )
    tables["gains"] = _run(
        "gain solve",
        gaincal,
        out_dir / "gains.g",
        gaintype="G",
        calmode="ap",
        solint=settings.gain_solint,
        gaintable=prior + [str(tables["bandpass"])],
        **common,
    )
    return tables


def solve_group(
    ms_path: Path,
    out_dir: Path,
    *,
    calibrator: str,
    model_sources: pd.DataFrame,
    pointing_dec_deg: float,
    site: EarthLocation,
    dish_m: float,
    settings: Calibration,
    log=None,
) -> dict:
    """Solve one calibrator group into ``out_dir`` (tables, qa.json, one PNG per table).

    A solve that CASA cannot do is recorded as a bad calibration with CASA's complaint. Works
    on a private copy of ``ms_path`` (MODEL_DATA is written there, never into the input)
    in a scratch directory next to ``out_dir``, removed whatever happens. Returns the QA and
    provenance record also written to ``out_dir/qa.json``.
    """
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with staging.scratch_directory(out_dir.parent / f".{out_dir.name}.solving") as scratch:
        work_ms = scratch / "calibrator.ms"
        shutil.copytree(ms_path, work_ms)
        layout = ms_layout(str(work_ms), site)
        model.write_model(str(work_ms), Catalog(model_sources), np.deg2rad(pointing_dec_deg), layout, dish_m)
        quality = antenna_quality(str(work_ms))
        refant = choose_refant(quality, layout, settings.refant_candidates)
        if log:
            log.info(
                "model: %d sources (%.2f Jy apparent in total); reference antennas %s",
                len(model_sources),
                model_sources["apparent_jy"].sum(),
                ", ".join(refant.names),
            )
        t_model = time.perf_counter()
        failure = []
        try:
            solved, model_sources = solve(
                str(work_ms), scratch, refant, settings, model_sources, np.deg2rad(pointing_dec_deg), layout, dish_m
            )
        except CalibrationError as err:  # recorded as a bad calibration: targets fall back
            if log:
                log.error("%s", err)
            solved, failure = {}, [f"solve failed: {err}"]
        t_solve = time.perf_counter()
        with_data = {int(r.row): layout.names[int(r.row)] for r in quality.itertuples() if r.unflagged > 0}
        tables = {}
        for kind, path in solved.items():
            final = out_dir / path.name
            shutil.rmtree(final, ignore_errors=True)
            shutil.move(str(path), final)
            sol = qa.read_solutions(final, kind)
            tables[kind] = {"table": final.name, **qa.table_qa(sol, with_data, settings.qa)}
            qa.plot(sol, f"{calibrator} {kind}", out_dir / f"{kind}.png")
    reasons = failure + [r for t in tables.values() for r in t["reasons"]]
    record = {
        "calibration": out_dir.name,
        "calibrator": calibrator,
        "ms": str(ms_path),
        "verdict": "bad" if reasons else "good",
        "reasons": reasons,
        "tables": tables,
        "apply_order": list(tables),
        "refant": {"names": refant.names, "rows": refant.rows, "scores": refant.scores},
        "model": {
            "n_sources": len(model_sources),
            "pointing_dec_deg": pointing_dec_deg,
            "sources": model_sources.reindex(columns=MODEL_RECORD_COLUMNS)  # fitted_scale: null if not solved
            .round(6)
            .replace({np.nan: None})
            .to_dict("records"),
        },
        "parameters": {k: v for k, v in as_record(settings).items() if k != "qa"},
        "qa_thresholds": as_record(settings.qa),
        "software": software_versions(),
        "timing_s": {
            "model": round(t_model - t0, 2),
            "solve": round(t_solve - t_model, 2),
            "qa": round(time.perf_counter() - t_solve, 2),
        },
    }
    tmp = out_dir / ".qa.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out_dir / "qa.json")
    return record
