"""The simulated sky apart from its catalogue (``simulation.survey``): the workflow is given a
survey's list of the sky, as on real data, not the sky the simulator drew.

From the sky catalogue (``simulation.sky_catalog``) and the survey settings:

- the sky: every catalogue source but ``absent_fraction`` of the field sources (survey entries
  with nothing there: sidelobes, split or faded sources), ``resolved_fraction`` of the field
  sources made elliptical Gaussians (FWHM uniform in ``resolved_fwhm_arcsec``, axis ratio
  0.5-1, any position angle; integrated flux kept), and ``unlisted_sources`` point sources
  log-uniform in ``unlisted_flux_jy`` (down to ~3 sigma of an image) within the catalogue's
  RA span and 1.5 deg of the pointing, which the survey misses;
- the survey's list: every catalogue source (the absent ones too), flux off by ``flux_error``
  (fractional rms), position by ``position_error_arcsec`` (rms per axis), no spectral index,
  written as the NVSS catalogue's CATALOG.FIT (`surveys.write_nvss`).

Calibrators (``protected``: the simulated calibrator list's names) and the variable source are
on the sky as catalogued, point-like, and listed like any other source.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from .sky import SHAPE_COLUMNS, Catalog

UNLISTED = "SIM UNLISTED "  # names of the sky sources the survey does not list


def draw(catalog: Catalog, survey: dict, pointing_dec_deg: float, protected: Collection[str], seed: int):
    """(the sky: a Catalog with ``SHAPE_COLUMNS``, the survey's list: a DataFrame of name, ra_deg,
    dec_deg, flux_jy at 1.4 GHz and ``SHAPE_COLUMNS``) of ``catalog`` (see the module's docstring)."""
    rng = np.random.default_rng([seed, 21])
    table = catalog.table.reset_index(drop=True).assign(**{c: 0.0 for c in SHAPE_COLUMNS})
    field = np.flatnonzero(~table["name"].isin(protected).to_numpy())
    picked = rng.permutation(field)
    n_absent = int(round(survey["absent_fraction"] * len(field)))
    n_resolved = int(round(survey["resolved_fraction"] * len(field)))
    absent, resolved = picked[:n_absent], picked[n_absent : n_absent + n_resolved]
    low, high = survey["resolved_fwhm_arcsec"]
    major = rng.uniform(low, high, n_resolved)
    table.loc[resolved, "major_arcsec"] = major
    table.loc[resolved, "minor_arcsec"] = major * rng.uniform(0.5, 1.0, n_resolved)
    table.loc[resolved, "pa_deg"] = rng.uniform(0.0, 180.0, n_resolved)
    listed = _listed(table, survey, rng)
    sky = pd.concat([table.drop(index=absent), _unlisted(table, survey, pointing_dec_deg, rng)], ignore_index=True)
    return Catalog(sky), listed


def _listed(table: pd.DataFrame, survey: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Every source of ``table`` with the survey's flux and position errors."""
    error = survey["position_error_arcsec"] / 3600
    dec = table["dec_deg"].to_numpy(float)
    return pd.DataFrame(
        {
            "name": table["name"],
            "ra_deg": table["ra_deg"] + error * rng.standard_normal(len(table)) / np.cos(np.deg2rad(dec)),
            "dec_deg": dec + error * rng.standard_normal(len(table)),
            "flux_jy": table["flux_jy"] * (1 + survey["flux_error"] * rng.standard_normal(len(table))),
            **{c: table[c] for c in SHAPE_COLUMNS},
        }
    )


def _unlisted(table: pd.DataFrame, survey: dict, pointing_dec_deg: float, rng: np.random.Generator) -> pd.DataFrame:
    """``unlisted_sources`` faint point sources near the pointing."""
    n = survey["unlisted_sources"]
    low, high = np.log(survey["unlisted_flux_jy"])
    return pd.DataFrame(
        {
            "name": [f"{UNLISTED}{k}" for k in range(n)],
            "ra_deg": rng.uniform(table["ra_deg"].min(), table["ra_deg"].max(), n),
            "dec_deg": pointing_dec_deg + rng.uniform(-1.5, 1.5, n),
            "flux_jy": np.exp(rng.uniform(low, high, n)),
            "spectral_index": rng.normal(-0.7, 0.3, n),
            **{c: 0.0 for c in SHAPE_COLUMNS},
        }
    )
