"""Which groups of the inventory a run processes (config `planning.selection`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from contimg import naming


def mjd_of(key: str, utc: str) -> float:
    """MJD of an ISO UTC date or date-time ('2026-01-31' or '2026-01-31T12:00:00'), config ``key``."""
    try:
        return pd.Timestamp(utc).value / 86400e9 + naming.MJD_UNIX_EPOCH
    except ValueError as err:
        raise ValueError(f"config key 'planning.selection.{key}': {utc!r} is not a UTC date ({err})") from None


def select(groups: pd.DataFrame, selection: dict, finished: Callable[[str], bool]) -> tuple[np.ndarray, dict]:
    """A boolean mask of the ``groups`` rows that ``selection`` keeps, and {criterion: how many
    groups it left out}.

    ``selection``: start / end (UTC, group mid-times in [start, end)), dec_min_deg / dec_max_deg
    (pointing declination), status ("all", or "unfinished": only groups whose photometry
    record is not there yet, as ``finished(obs)`` tells).
    """
    keep = np.ones(len(groups), bool)
    left_out = {}
    mjd, dec = groups["mjd_mid"].to_numpy(float), groups["pointing_dec_deg"].to_numpy(float)
    tests = [
        ("start", lambda v: mjd >= mjd_of("start", v)),
        ("end", lambda v: mjd < mjd_of("end", v)),
        ("dec_min_deg", lambda v: dec >= v),
        ("dec_max_deg", lambda v: dec <= v),
    ]
    for key, test in tests:
        if selection.get(key) is not None:
            passed = test(selection[key])
            left_out[key] = int(np.count_nonzero(keep & ~passed))
            keep &= passed
    if selection.get("status", "all") == "unfinished":
        passed = np.array([not finished(obs) for obs in groups["obs"]], bool)
        left_out["status"] = int(np.count_nonzero(keep & ~passed))
        keep &= passed
    return keep, left_out
