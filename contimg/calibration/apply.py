"""Apply the nearest good calibration to a group: calibrated/{obs}.ms holds corrected data.

The candidates (nearest first) were fixed from the inventory when the DAG was built; the
first whose quality gate passed is applied by CASA's mstransform with a calibration library
(the same interpolation and flagging as applycal: solutions nearest in time, linear across
channels, data flagged where a solution is) in one pass from ``ms/{obs}.ms`` to the new
Measurement Set, whose DATA column holds the corrected data (one data column, so imagers need
no option). Channels are averaged on the way to at most ``average_to_hz`` wide (imaging.average_channels_to_hz;
DP3's ``freqresolution``): after flagging and calibration, where the native resolution mattered,
and before imaging, whose time scales with the channels. Weights are not scaled
(calwt=False): contimg writes them from the SEFD in Jy, already the calibrated noise, and
averaging sums them. The record says which calibration was applied and why nearer ones were not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from casacore.tables import table

from .. import staging
from . import plan
from .provenance import software_versions

CAL_INTERPOLATION = {"calwt": False, "tinterp": "nearest", "finterp": "linear"}  # applycal's interp="nearest"


class NoCalibrationError(RuntimeError):
    """No candidate calibration passed its quality gate; the message lists why, per candidate."""


def read_qa(qa_path: Path) -> dict:
    return json.loads(Path(qa_path).read_text())


def channel_bin(ms_path: Path, average_to_hz: float) -> int:
    """Channels averaged into one: the most whose total width is at most ``average_to_hz``
    and that divide every spectral window's channels evenly (1: none; a bin never crosses
    a window's edge or leaves a narrower last channel)."""
    with table(f"{ms_path}/SPECTRAL_WINDOW", ack=False) as spw:
        widths = [np.abs(spw.getcell("CHAN_WIDTH", k)) for k in range(spw.nrows())]
    n_chan = [len(w) for w in widths]
    most = int(average_to_hz // max(float(np.max(w)) for w in widths)) if average_to_hz > 0 else 1
    return max(k for k in range(1, max(1, most) + 1) if all(n % k == 0 for n in n_chan))


def calibration_library(gaintables: list[str]) -> str:
    """A CASA calibration library applying ``gaintables`` in order (`CAL_INTERPOLATION`).
    CASA 6.7 logs "missing the following fields: scan scanmap" as SEVERE for each table and
    applies it; its parser rejects those fields when given."""
    settings = " ".join(f"{k}={v!r}" for k, v in CAL_INTERPOLATION.items())
    return "".join(f"caltable={t!r} {settings}\n" for t in gaintables)


def apply_calibration(
    ms_path: Path, out_ms: Path, record_path: Path, candidates: list[Path], average_to_hz: float = 0.0, log=None
) -> dict:
    """Write ``out_ms`` = ``ms_path`` calibrated with the first good one of ``candidates``
    (caltables/{cal} directories, nearest first), its channels averaged to at most
    ``average_to_hz`` (0: not averaged), and its record."""
    from casatasks import mstransform

    if out_ms.exists():
        raise FileExistsError(f"{out_ms} exists: a calibrated Measurement Set is written once and never overwritten")
    records = {path.name: read_qa(path / "qa.json") for path in candidates}
    chosen, passed_over = plan.choose(list(records), records)
    for skipped in passed_over:
        if log:
            log.warning(
                "%s: calibration %s is not used: %s",
                ms_path.name,
                skipped["calibration"],
                "; ".join(skipped["reasons"]),
            )
    if chosen is None:
        raise NoCalibrationError(
            f"{ms_path.name}: no good calibration among {len(candidates)} candidate(s): "
            + " | ".join(f"{p['calibration']}: {'; '.join(p['reasons'])}" for p in passed_over)
        )
    cal = records[chosen]
    chosen_dir = candidates[list(records).index(chosen)]
    gaintables = [str(chosen_dir / cal["tables"][kind]["table"]) for kind in cal["apply_order"]]
    chanbin = channel_bin(ms_path, average_to_hz)
    scratch = out_ms.parent / f".{out_ms.name}.callib"  # (what a killed job left there is removed first)
    with staging.staged_directory(out_ms) as tmp, staging.scratch_directory(scratch):
        library = scratch / "calibration.lib"
        library.write_text(calibration_library(gaintables))
        mstransform(
            vis=str(ms_path),
            outputvis=str(tmp),
            datacolumn="corrected",
            docallib=True,
            callib=str(library),
            chanaverage=chanbin > 1,
            chanbin=chanbin,
        )
        with table(str(tmp), ack=False) as ms:
            if "DATA" not in ms.colnames() or ms.nrows() == 0:
                raise RuntimeError(f"mstransform wrote no calibrated DATA from {ms_path.name}")
    record = {
        "obs": out_ms.name.removesuffix(".ms"),
        "input_ms": str(ms_path),
        "calibration": chosen,
        "calibrator": cal["calibrator"],
        "tables": gaintables,
        "refant": cal["refant"]["names"][0],
        "candidates": list(records),
        "passed_over": passed_over,
        "interpolation": CAL_INTERPOLATION,
        "channels_averaged": chanbin,
        "software": software_versions(),
    }
    record_path.write_text(json.dumps(record, indent=1))
    if log:
        log.info(
            "%s: applied %s (%s)%s%s",
            ms_path.name,
            chosen,
            cal["calibrator"],
            f", after passing over {len(passed_over)} nearer calibration(s)" if passed_over else "",
            f", {chanbin} channels averaged into one" if chanbin > 1 else "",
        )
    return record
