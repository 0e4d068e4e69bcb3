"""Bright catalogue sources are subtracted from the visibilities before imaging, with the
beam of every integration (the calibration model's predictor):

- outside the imaged square: a drift scan's field sits among sources seen through the Airy
  sidelobes (a 15 Jy calibrator 4 deg away is 0.26 Jy apparent) whose sidelobes run across
  the image as east-west stripes that no clean inside the image can remove;
- inside it, the very bright ones: a source drifting through the beam changes its flux
  during the group, is not PSF-shaped, and limits the dynamic range (a 12 Jy apparent
  calibrator left the residual at 5x the thermal noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from casacore.tables import table

from ..calibration import model
from ..layout import Layout
from ..sky import Catalog


def image_wcs(centre_rad: tuple[float, float], size: int, scale_arcsec: float) -> WCS:
    """The SIN-projected celestial grid WSClean makes for ``size`` x ``size`` pixels."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = np.rad2deg(centre_rad)
    wcs.wcs.crpix = [size // 2 + 1, size // 2 + 1]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    return wcs


def to_subtract(sources: pd.DataFrame, wcs: WCS, size: int, inside_min_apparent_jy: float) -> pd.DataFrame:
    """The rows of ``sources`` outside the image (or behind its projection), and those inside
    whose apparent flux is at least ``inside_min_apparent_jy``."""
    x, y = wcs.world_to_pixel(SkyCoord(sources["ra_deg"], sources["dec_deg"], unit="deg"))
    inside = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < size - 0.5) & (y >= -0.5) & (y < size - 0.5)
    return sources[~inside | (sources["apparent_jy"].to_numpy() >= inside_min_apparent_jy)]


def subtract(ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float,
             row_block: int = 200_000) -> None:  # fmt: skip
    """DATA -= the visibilities of ``sources`` (predicted into MODEL_DATA, as for calibration)."""
    model.write_model(ms, sources, pointing_dec_rad, layout, dish_m)
    with table(ms, readonly=False, ack=False) as main:
        for start in range(0, main.nrows(), row_block):
            n = min(row_block, main.nrows() - start)
            data = main.getcol("DATA", startrow=start, nrow=n) - main.getcol("MODEL_DATA", startrow=start, nrow=n)
            main.putcol("DATA", data, startrow=start, nrow=n)
        main.removecols("MODEL_DATA")
