"""Which calibrations may serve which group: decided from the inventory when the DAG is built.

A group's candidates are the complete calibrator groups of the same pointing declination
within the validity window, nearest in time first. Whether a candidate's tables passed the
quality gate is only known after solving, so the apply step takes the first good one
(`choose`) and records why any nearer one was passed over. A group all of whose candidates
were solved and failed (`failed_calibrations`) has no calibration: the next run skips it
and says why, instead of failing its apply job again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import Calibration, as_record


def calibrator_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """Complete groups in which a catalogued calibrator transits."""
    return groups[(groups["status"] == "complete") & (groups["calibrator"] != "")]


def failed_calibrations(caltables: str | Path, settings: Calibration) -> dict[str, str]:
    """{calibrator-group obs: why} of the calibrations in ``caltables``/ whose quality gate
    failed with the current settings (after a change of settings they are solved again)."""
    failed = {}
    record = as_record(settings)
    solver = {k: v for k, v in record.items() if k != "qa"}
    for path in sorted(Path(caltables).glob("*/qa.json")):
        try:
            qa = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written, or damaged: the solve job's own business
        if qa.get("verdict") == "bad" and qa.get("qa_thresholds") == record["qa"] and qa.get("parameters") == solver:
            failed[path.parent.name] = "; ".join(qa.get("reasons", []))
    return failed


def plan(
    groups: pd.DataFrame,
    validity_hours: float,
    dec_tolerance_deg: float,
    max_candidates: int,
    failed: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per complete group: its candidate calibrations (nearest first) or why it has none
    (none in reach, or every one in reach is among the ``failed`` calibrations).

    Columns: obs, mjd_mid, pointing_dec_deg, candidates (list of calibrator-group obs),
    calibrators (their calibrator names), reason (empty when there are candidates).
    """
    cals = calibrator_groups(groups)
    cal_obs, cal_name = cals["obs"].to_numpy(), cals["calibrator"].to_numpy()
    cal_dec, cal_mjd = cals["pointing_dec_deg"].to_numpy(float), cals["mjd_mid"].to_numpy(float)
    rows = []
    for g in groups[groups["status"] == "complete"].itertuples():  # numpy inside: a year has 105,000 groups
        same_dec = np.flatnonzero(np.abs(cal_dec - g.pointing_dec_deg) <= dec_tolerance_deg)
        hours = np.abs(cal_mjd[same_dec] - g.mjd_mid) * 24.0
        order = np.lexsort((cal_mjd[same_dec], hours))
        near = [(same_dec[k], hours[k]) for k in order[hours[order] <= validity_hours][:max_candidates]]
        candidates = [cal_obs[k] for k, _ in near]
        if not near:
            reason = f"no calibrator group at pointing dec {g.pointing_dec_deg:.2f} deg within {validity_hours:g} h" + (
                ""
                if len(same_dec) == 0
                else f" (nearest: {cal_obs[same_dec[np.argmin(hours)]]}, {hours.min():.1f} h away)"
            )
        elif failed and all(cal in failed for cal in candidates):
            reason = "every calibration in reach failed its quality gate: " + " | ".join(
                f"{cal}: {failed[cal]}" for cal in candidates
            )
            near, candidates = [], []
        else:
            reason = ""
        rows.append(
            {
                "obs": g.obs,
                "mjd_mid": g.mjd_mid,
                "pointing_dec_deg": g.pointing_dec_deg,
                "candidates": candidates,
                "calibrators": [cal_name[k] for k, _ in near],
                "hours_away": [round(float(h), 3) for _, h in near],
                "reason": reason,
            }
        )
    return pd.DataFrame(
        rows, columns=["obs", "mjd_mid", "pointing_dec_deg", "candidates", "calibrators", "hours_away", "reason"]
    )


def choose(candidates: list[str], verdicts: dict[str, dict]) -> tuple[str | None, list[dict]]:
    """The first candidate whose QA verdict is good, and the nearer ones passed over (with why).

    ``verdicts`` maps each candidate to its QA summary: {"verdict": "good"|"bad", "reasons": [...]}.
    """
    passed_over = []
    for cal in candidates:
        qa = verdicts[cal]
        if qa["verdict"] == "good":
            return cal, passed_over
        passed_over.append({"calibration": cal, "reasons": qa["reasons"]})
    return None, passed_over
