"""The plan of a run: which groups it processes, the calibrations each may use, its mosaics and
nights, and the products and jobs of each stage.

`make` is a pure function of the inventory (with quarantined groups already failed:
`read_groups`), the calibrations that failed their QA, the config and what has been measured
already; rules/common.smk reads those files, asks for the plan and keeps only input
functions over it, so the plan is tested without Snakemake (tests/unit/test_planning.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import naming, quarantine, selection, tables
from .calibration import plan as calplan
from .paths import IMAGE, PHOTOMETRY, Area


class PlanError(ValueError):
    """The config asks for a plan that cannot be made (the message names the key)."""


@dataclass
class Plan:
    """What a run does, by group id (obs), calibrator group (cal), mosaic hour and night."""

    groups: pd.DataFrame | None  # the inventory (None before the first one)
    selected: frozenset[str] = frozenset()  # groups planning.selection keeps
    left_out: dict[str, int] = field(default_factory=dict)  # selection key -> groups it leaves out
    complete: list[str] = field(default_factory=list)  # selected complete groups
    candidates: dict[str, list[str]] = field(
        default_factory=dict
    )  # every complete group -> calibrations, nearest first
    no_calibration: dict[str, str] = field(default_factory=dict)  # ... -> why it has none ("" if it has)
    calibrated: list[str] = field(default_factory=list)  # selected groups with a calibration in reach
    mosaics: dict[str, list[str]] = field(default_factory=dict)  # hour -> its calibrated groups
    nights: dict[str, list[str]] = field(default_factory=dict)  # planning.unit night: night -> its groups
    keep_ms: bool = True  # not calibration.temporary_ms

    def __post_init__(self):
        groups = pd.DataFrame({"obs": [], "calibrator": []}) if self.groups is None else self.groups
        self._rows = {row["obs"]: row for row in groups.to_dict("records")}  # obs -> row, O(1)
        self._calibrator_rows = {groups["obs"].iat[k]: k for k in np.flatnonzero(groups["calibrator"] != "")}

    def row(self, obs: str) -> dict:
        """The inventory row of group ``obs``."""
        return self._rows[obs]

    def calibrator_row(self, cal: str) -> pd.Series:
        """The inventory row of calibrator group ``cal``."""
        if cal not in self._calibrator_rows:
            raise ValueError(f"group {cal} is not a calibrator group of the inventory")
        return self.groups.iloc[self._calibrator_rows[cal]]

    def group_files(self, obs: str, n_subbands: int) -> list[str]:
        """The raw file names of complete group ``obs``."""
        row = self._rows.get(obs)
        if row is None or row["status"] != "complete":
            raise ValueError(f"group {obs} is not a complete group of the inventory")
        return [row[f"sb{k:02d}"] for k in range(n_subbands)]

    def calibrations(self, groups: list[str] | None = None) -> list[str]:
        """The calibrator groups that ``groups`` (default: the calibrated ones) may use."""
        return sorted({cal for obs in (self.calibrated if groups is None else groups) for cal in self.candidates[obs]})

    def skipped(self) -> list[str]:
        """One line per selected complete group that has no calibration in reach."""
        return [
            f"calibration: group {obs} is skipped: {self.no_calibration[obs]}"
            for obs in self.complete
            if self.no_calibration[obs]
        ]

    def lightcurve_groups(self, has_photometry: Callable[[str], bool]) -> list[str]:
        """The groups the light curves use: the calibrated ones, and every other group whose
        photometry is there already (a selection never shrinks the light curves)."""
        others = [obs for obs, cands in self.candidates.items() if cands and obs not in self.selected]
        return self.calibrated + [obs for obs in others if has_photometry(obs)]

    def lightcurve_nights(self, has_photometry: Callable[[str], bool]) -> dict[str, list[str]]:
        """The light curves' groups (`lightcurve_groups`) by night (`naming.night_names`)."""
        groups = self.lightcurve_groups(has_photometry)
        return _bins(groups, naming.night_names([self._rows[obs]["mjd_mid"] for obs in groups]))

    def group_products(self, area: Area, groups: list[str], hours: list[str]) -> list[str]:
        """The per-group products of ``groups`` (those with a calibration) and the mosaics of ``hours``."""
        calibrated = [obs for obs in groups if self.candidates[obs]]
        targets = [area.calibrated(obs) for obs in calibrated]
        targets += [area.image(obs, "-qa.json") for obs in calibrated]
        targets += [area.mosaic(hour, ext) for hour in hours for ext in (".fits", ".png")]
        targets += [area.photometry(obs, s) for obs in calibrated for s in PHOTOMETRY]  # all: a missing one is remade
        return targets + ([area.ms(obs) for obs in groups] if self.keep_ms else [])

    def night_products(self, area: Area, night: str) -> list[str]:
        """What the job of ``night`` makes: its groups' products and its mosaics."""
        return self.group_products(area, self.nights[night], [hour for hour in self.mosaics if hour.startswith(night)])

    def night_digest(self, night: str) -> str:
        """A digest of the inventory rows and candidate calibrations of the groups of ``night``."""
        rows = [(self._rows[obs], self.candidates[obs]) for obs in self.nights[night]]
        return hashlib.sha1(repr(rows).encode()).hexdigest()

    def stages(self, area: Area, exists: Callable[[str], bool] = os.path.exists) -> tuple[dict, dict]:
        """{stage: [the product files of each job]} of the run, and {stage: those not made yet}."""
        cals = self.calibrations()
        products = {
            "convert": [[area.ms(obs)] for obs in self.complete + [c for c in cals if c not in self.selected]],
            "solve_calibration": [[area.caltables(cal)] for cal in cals],
            "apply_calibration": [[area.calibrated(obs)] for obs in self.calibrated],
            "image": [[area.image(obs, s) for s in IMAGE] for obs in self.calibrated],
            "photometry": [[area.photometry(obs, s) for s in PHOTOMETRY] for obs in self.calibrated],
            "mosaic": [[area.mosaic(hour)] for hour in self.mosaics],
        }
        jobs = {stage: [files for files in sets if not exists(files[0])] for stage, sets in products.items()}
        if not self.keep_ms:  # a deleted ms/ is only remade for a group that is not calibrated yet
            done = {area.ms(obs): area.calibrated(obs) for obs in self.complete}
            jobs["convert"] = [f for f in jobs["convert"] if f[0] not in done or not exists(done[f[0]])]
        return products, jobs


def read_groups(area: Area, incoming: str) -> tuple[pd.DataFrame | None, list[str]]:
    """The groups table of the last inventory (None before the first one), with the groups
    quarantined since then failed already (the inventory re-runs to record it); and a line
    per such group."""
    path = area.inventory()
    if not os.path.exists(path):
        return None, []
    groups, records = tables.read_groups(path), quarantine.read_all(area.quarantine())
    if not records:
        return groups, []
    groups, _ = quarantine.mark_groups(groups, incoming, records)
    failed = groups[groups["status"] == quarantine.FAILED]
    return groups, [f"group {row.obs} is skipped: {row.reason}" for row in failed.itertuples()]


def make(
    groups: pd.DataFrame | None, failed_calibrations: dict[str, str], config: dict, finished: Callable[[str], bool]
) -> Plan:
    """The plan of the run ``config`` asks for over inventory ``groups``; ``finished`` tells
    whether a group has its photometry (planning.selection.status unfinished)."""
    keep_ms = not config["calibration"]["temporary_ms"]
    if groups is None:
        return Plan(None, keep_ms=keep_ms)
    planning, cal, hours = config["planning"], config["calibration"], config["imaging"]["mosaic_hours"]
    try:
        keep, left_out = selection.select(groups, planning["selection"], finished)
    except ValueError as err:
        raise PlanError(str(err)) from err
    selected = frozenset(groups.loc[keep, "obs"])
    complete = [obs for obs in groups.loc[groups["status"] == "complete", "obs"] if obs in selected]
    table = calplan.plan(
        groups,
        cal["validity_hours"],
        config["inventory"]["pointing_tolerance_deg"],
        cal["max_candidates"],
        failed_calibrations,
    )
    candidates = dict(zip(table["obs"], table["candidates"]))
    mid = dict(zip(groups["obs"], groups["mjd_mid"]))
    nights = {}
    if planning["unit"] == "night":
        if 24.0 % hours:
            raise PlanError(
                "planning.unit night needs imaging.mosaic_hours to divide 24 (a mosaic must not span two nights)"
            )
        nights = _bins(complete, naming.night_names([mid[obs] for obs in complete]))
    usable = [obs for obs, cands in candidates.items() if cands]
    hour_of = dict(zip(usable, naming.mosaic_names([mid[obs] for obs in usable], hours)))
    wanted = {str(hour_of[obs]) for obs in usable if obs in selected}
    mosaics = {hour: members for hour, members in _bins(usable, hour_of.values()).items() if hour in wanted}
    return Plan(
        groups,
        selected,
        left_out,
        complete,
        candidates,
        dict(zip(table["obs"], table["reason"])),
        [obs for obs in complete if candidates[obs]],
        mosaics,
        nights,
        keep_ms,
    )


def _bins(groups: list[str], names) -> dict[str, list[str]]:
    """{name: the groups of that name}, in the groups' order."""
    binned: dict[str, list[str]] = {}
    for obs, name in zip(groups, names):
        binned.setdefault(str(name), []).append(obs)
    return binned
