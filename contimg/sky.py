"""Sky catalogues: sources with a flux density at 1.4 GHz, a spectral index and, where the
source has a published curved spectrum (Perley & Butler 2017), curvature terms:
log10 S(nu) = log10 flux_jy + spectral_index * x + sum_k curvature_k * x**k, x = log10(nu / 1.4 GHz);
and, where a survey measured it, the source's deconvolved size (``SHAPE_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd

REFERENCE_FREQ_HZ = 1.4e9
CATALOG_COLUMNS = ("name", "ra_deg", "dec_deg", "flux_jy", "spectral_index")
CURVATURE_COLUMNS = ("curvature_2", "curvature_3", "curvature_4", "curvature_5")  # optional; absent = 0
# optional: deconvolved FWHM axes (arcsec) and position angle (deg, north through east); absent = 0, a point
SHAPE_COLUMNS = ("major_arcsec", "minor_arcsec", "pa_deg")
# a source is resolved by a beam when its deconvolved major axis is at least this fraction of the
# beam's minor axis: its peak is then >= 10 % below its integrated flux (axes aligned)
RESOLVED_FRACTION = 0.5


@dataclass(frozen=True)
class Catalog:
    """A table of sources (columns as in ``CATALOG_COLUMNS``, optionally ``CURVATURE_COLUMNS`` and
    ``SHAPE_COLUMNS``)."""

    table: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return list(self.table["name"])

    @property
    def ra_rad(self) -> np.ndarray:
        return np.deg2rad(self.table["ra_deg"].to_numpy(float))

    @property
    def dec_rad(self) -> np.ndarray:
        return np.deg2rad(self.table["dec_deg"].to_numpy(float))

    def flux_at(self, freq_hz) -> np.ndarray:
        """(N_src, N_freq) flux density in Jy: S (nu / 1.4 GHz)^alpha, times the curvature terms' factor."""
        ratio = np.asarray(freq_hz, dtype=float)[None, :] / REFERENCE_FREQ_HZ
        flux = (
            self.table["flux_jy"].to_numpy(float)[:, None]
            * ratio ** self.table["spectral_index"].to_numpy(float)[:, None]
        )
        curved = [c for c in CURVATURE_COLUMNS if c in self.table.columns]
        if curved:
            x = np.log10(ratio)
            power = {c: int(c.rsplit("_", 1)[1]) for c in curved}
            log_factor = sum(self.table[c].fillna(0.0).to_numpy(float)[:, None] * x ** power[c] for c in curved)
            flux = flux * 10.0**log_factor
        return flux

    @property
    def major_arcsec(self) -> np.ndarray:
        """Each source's deconvolved major axis FWHM (0: a point, or not measured)."""
        if "major_arcsec" not in self.table.columns:
            return np.zeros(len(self.table))
        return self.table["major_arcsec"].fillna(0.0).to_numpy(float)

    def shapes_rad(self) -> np.ndarray:
        """(N_src, 3) each source's deconvolved FWHM major, minor axes and position angle
        (north through east) in radians; zeros: a point."""
        shapes = self.table.reindex(columns=SHAPE_COLUMNS).fillna(0.0).to_numpy(float)
        return np.deg2rad(shapes / [3600.0, 3600.0, 1.0])

    def resolved(self, beam_minor_arcsec: float) -> np.ndarray:
        """Which sources a beam of minor axis FWHM ``beam_minor_arcsec`` resolves (``RESOLVED_FRACTION``):
        their peak is not their flux, and their emission reaches beyond one beam."""
        return self.major_arcsec >= RESOLVED_FRACTION * beam_minor_arcsec

    def __len__(self) -> int:
        return len(self.table)


def read_catalog(paths: str | Sequence[str]) -> Catalog:
    """Read one source CSV, or several as one catalogue ('#' lines are comments); a missing
    column or an empty value is named with its file."""
    tables = []
    for path in [paths] if isinstance(paths, str) else paths:
        table = pd.read_csv(path, comment="#", skipinitialspace=True, float_precision="round_trip")
        missing = [c for c in CATALOG_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: catalogue lacks column(s) {', '.join(missing)}")
        bad = table[list(CATALOG_COLUMNS[1:])].isna().any(axis=1)
        if bad.any():
            raise ValueError(f"{path}: empty or non-numeric values in row(s) {list(table.index[bad] + 2)}")
        tables.append(table)
    return Catalog(pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0].reset_index(drop=True))


def simulated_sources(catalog: Catalog, simulated: Catalog, within_arcsec: float = 1.0) -> list[str]:
    """The sources of ``catalog`` that are the simulated sky's (``simulated``): same name, same
    position to ``within_arcsec``."""
    sim = simulated.table.set_index("name")
    hits = []
    for row in catalog.table[catalog.table["name"].isin(sim.index)].itertuples():
        twin = sim.loc[[row.name]]
        ddec = (twin["dec_deg"] - row.dec_deg) * 3600
        dra = (twin["ra_deg"] - row.ra_deg) * 3600 * np.cos(np.deg2rad(row.dec_deg))
        if (np.hypot(dra, ddec) <= within_arcsec).any():
            hits.append(row.name)
    return hits


def log_polynomial_at(coefficients: Sequence[float], from_hz: float, to_hz: float = REFERENCE_FREQ_HZ) -> list[float]:
    """Re-reference log10 S = sum_k a_k log10(nu / from_hz)^k to ``to_hz``: the coefficients
    b_k of log10(nu / to_hz) (b_0 = log10 S(to_hz), b_1 the spectral index, b_k>=2 curvature)."""
    shift = np.log10(to_hz / from_hz)
    n = len(coefficients)
    return [sum(coefficients[k] * comb(k, j) * shift ** (k - j) for k in range(j, n)) for j in range(n)]
