"""Apply the nearest good calibration to a group: calibrated/{obs}.ms holds corrected data.

The candidates (nearest first) were fixed from the inventory when the DAG was built; the
first whose quality gate passed is applied with CASA's applycal to a private copy, whose
CORRECTED_DATA then becomes its DATA column (one data column, so imagers need no option).
Weights are left alone (calwt=False): contimg writes them from the SEFD in Jy, already the
calibrated noise. The record says which calibration was applied and why nearer ones were not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from casacore.tables import table

from .. import staging
from . import plan
from .solve import software_versions


class NoCalibrationError(RuntimeError):
    """No candidate calibration passed its quality gate; the message lists why, per candidate."""


def read_qa(qa_path: Path) -> dict:
    return json.loads(Path(qa_path).read_text())


def apply_calibration(ms_path: Path, out_ms: Path, record_path: Path, candidates: list[Path], log=None) -> dict:
    """Write ``out_ms`` = ``ms_path`` calibrated with the first good one of ``candidates``
    (caltables/{cal} directories, nearest first), and its record."""
    from casatasks import applycal

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
    settings = {"interp": ["nearest"] * len(gaintables), "calwt": False, "applymode": "calflag", "flagbackup": False}
    with staging.staged_directory(out_ms) as tmp:
        shutil.copytree(ms_path, tmp)
        applycal(vis=str(tmp), gaintable=gaintables, **settings)
        with table(str(tmp), readonly=False, ack=False) as ms:
            if "CORRECTED_DATA" not in ms.colnames():
                raise RuntimeError(f"applycal wrote no CORRECTED_DATA into the copy of {ms_path.name}")
            ms.removecols("DATA")
            ms.renamecol("CORRECTED_DATA", "DATA")
    record = {
        "obs": out_ms.name.removesuffix(".ms"),
        "input_ms": str(ms_path),
        "calibration": chosen,
        "calibrator": cal["calibrator"],
        "tables": gaintables,
        "refant": cal["refant"]["names"][0],
        "candidates": list(records),
        "passed_over": passed_over,
        "applycal": settings,
        "software": software_versions(),
    }
    record_path.write_text(json.dumps(record, indent=1))
    if log:
        log.info(
            "%s: applied %s (%s)%s",
            ms_path.name,
            chosen,
            cal["calibrator"],
            f", after passing over {len(passed_over)} nearer calibration(s)" if passed_over else "",
        )
    return record
