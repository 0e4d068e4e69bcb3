"""Sky catalogues: point sources with a flux density at 1.4 GHz and a spectral index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REFERENCE_FREQ_HZ = 1.4e9
CATALOG_COLUMNS = ("name", "ra_deg", "dec_deg", "flux_jy", "spectral_index")


@dataclass(frozen=True)
class Catalog:
    """A table of point sources (columns as in ``CATALOG_COLUMNS``)."""

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
        """(N_src, N_freq) flux density in Jy: S (nu / 1.4 GHz)^alpha."""
        ratio = np.asarray(freq_hz, dtype=float)[None, :] / REFERENCE_FREQ_HZ
        return (
            self.table["flux_jy"].to_numpy(float)[:, None]
            * ratio ** self.table["spectral_index"].to_numpy(float)[:, None]
        )

    def __len__(self) -> int:
        return len(self.table)


def read_catalog(path: str) -> Catalog:
    """Read a source CSV ('#' lines are comments); missing columns are named in the error."""
    table = pd.read_csv(path, comment="#", skipinitialspace=True, float_precision="round_trip")
    missing = [c for c in CATALOG_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: catalogue lacks column(s) {', '.join(missing)}")
    bad = table[list(CATALOG_COLUMNS[1:])].isna().any(axis=1)
    if bad.any():
        raise ValueError(f"{path}: empty or non-numeric values in row(s) {list(table.index[bad] + 2)}")
    return Catalog(table.reset_index(drop=True))
