"""Bright catalogue sources are subtracted from the visibilities before imaging, with the
beam of every integration (the calibration model's predictor):

- outside the imaged square: a drift scan's field sits among sources seen through the Airy
  sidelobes (a 15 Jy calibrator 4 deg away is 0.26 Jy apparent) whose sidelobes run across
  the image as east-west stripes that no clean inside the image can remove;
- inside it, the bright ones: a source drifting through the beam changes its flux
  during the group (by +-3 % near the centre, more on the beam's flanks), so it is not
  PSF-shaped and clean leaves sidelobe-shaped artefacts of 1-6 % of its apparent flux
  (measured on the demo night: antisymmetric blobs 6 arcmin north and south of each
  source above 0.3 Jy). Subtracted with the beam of every integration they leave 0.04 %.
  These are put back into the restored image afterwards (`restore`): the restoring beam
  (convolved with the source's shape, for a catalogue Gaussian) times the fitted flux times
  the drift-averaged primary beam at the position.

Sources with a catalogue size are predicted, fitted and subtracted as Gaussians of that size
(`model.MSPrediction`): a resolved source subtracted as a point is fitted low (the long
baselines see less of it) and leaves its extended part in the data. Where
  the catalogue's flux is wrong the difference stays in the visibilities as an ordinary
  (nearly PSF-shaped) source that clean picks up, so measured fluxes still follow the sky.
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
from . import selfcal
from .restoring_beam import FWHM_TO_SIGMA, RestoringBeam

FIT_CHANNELS = 16  # channels the flux fit reads, spread over the band (`fitted_scales`; docs/performance.md)
FIT_ROWS = 20000  # rows at a time: (sources x rows x channels) complex predictions in memory
FIT_PRIOR = 1e-3  # the pull towards the catalogue flux, relative to each source's own information
FIT_DECIMALS = 4


def image_wcs(centre_rad: tuple[float, float], size: int, scale_arcsec: float) -> WCS:
    """The SIN-projected celestial grid WSClean makes for ``size`` x ``size`` pixels."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = np.rad2deg(centre_rad)
    wcs.wcs.crpix = [size // 2 + 1, size // 2 + 1]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    wcs.wcs.equinox = 2000.0  # as in WSClean's headers
    return wcs


def to_subtract(
    sources: pd.DataFrame, wcs: WCS, size: int, outside_min_apparent_jy: float, inside_min_apparent_jy: float
) -> pd.DataFrame:
    """The rows of ``sources`` outside the image (or behind its projection) whose apparent flux
    is at least ``outside_min_apparent_jy``, and those inside at least ``inside_min_apparent_jy``;
    column ``inside`` says which."""
    x, y = wcs.world_to_pixel(SkyCoord(sources["ra_deg"], sources["dec_deg"], unit="deg"))
    inside = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < size - 0.5) & (y >= -0.5) & (y < size - 0.5)
    apparent = sources["apparent_jy"].to_numpy()
    chosen = np.where(inside, apparent >= inside_min_apparent_jy, apparent >= outside_min_apparent_jy)
    return sources[chosen].assign(inside=inside[chosen])


def fitted_scales(
    ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, gains=None
) -> np.ndarray:
    """Each source's flux as a multiple of its catalogue flux, fitted jointly to the MS's
    DATA: linear least squares of the unflagged parallel hands against every source's own
    predicted visibility (`model.MSPrediction.per_source`), on `FIT_CHANNELS` channels spread
    over the band. A weak pull (`FIT_PRIOR`) towards the catalogue keeps two entries that
    the array cannot tell apart (a double within the beam) from trading flux. DATA is first
    corrected by ``gains`` (`selfcal.phase_gains`; default none). Rounded to `FIT_DECIMALS`:
    far below the fit's precision, and the same in every run."""
    with table(ms, ack=False) as main:
        prediction = model.ms_prediction(main, sources, pointing_dec_rad, layout, dish_m)
        n_chan = sum(len(freqs) for _, _, freqs in prediction.windows)
        stride = max(1, n_chan // FIT_CHANNELS)
        normal, rhs = np.zeros((len(sources), len(sources))), np.zeros(len(sources))
        for first_row, n_rows, freqs in prediction.windows:
            for start in range(0, n_rows, FIT_ROWS):
                rows = min(FIT_ROWS, n_rows - start)
                cells = {
                    c: main.getcolslice(c, [0, 0], [-1, -1], [stride, 1], startrow=first_row + start, nrow=rows)
                    for c in ("DATA", "FLAG")
                }
                a1, a2 = (main.getcol(c, first_row + start, rows) for c in ("ANTENNA1", "ANTENNA2"))
                data = selfcal.corrected(cells["DATA"], prediction.parallel, a1, a2, gains)[..., prediction.parallel]
                used = ~cells["FLAG"][..., prediction.parallel] & np.isfinite(data)
                weight = used.sum(axis=-1).ravel()  # (rows x channels) unflagged parallel hands
                summed = np.where(used, data, 0).sum(axis=-1).ravel()
                each = prediction.per_source(first_row + start, rows, freqs[::stride]).reshape(len(sources), -1)
                normal += np.real(np.conj(each) @ (each * weight).T)
                rhs += np.real(np.conj(each) @ summed)
    diagonal = np.diag(normal)
    seen = diagonal > 0
    scales = np.ones(len(sources))  # a source with no unflagged data keeps its catalogue flux
    prior = FIT_PRIOR * np.diag(diagonal[seen])
    fitted = np.linalg.solve(normal[np.ix_(seen, seen)] + prior, rhs[seen] + FIT_PRIOR * diagonal[seen])
    scales[seen] = fitted
    return np.round(scales, FIT_DECIMALS)


def scaled(sources: Catalog, scales: np.ndarray) -> Catalog:
    """``sources`` with their fluxes times ``scales`` (negative ones as 0: nothing is added)."""
    return Catalog(sources.table.assign(flux_jy=sources.table["flux_jy"] * np.clip(scales, 0.0, None)))


def subtract(ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, gains=None) -> None:
    """DATA -= the visibilities of ``sources`` (predicted as for calibration, `model.model_blocks`),
    DATA first corrected by ``gains`` (`selfcal.phase_gains`; default none)."""
    parallel = model.parallel_hands(ms)
    with table(ms, readonly=False, ack=False) as main:
        for first_row, predicted in model.model_blocks(main, sources, pointing_dec_rad, layout, dish_m):
            data = main.getcol("DATA", startrow=first_row, nrow=len(predicted))
            if gains is not None:
                a1, a2 = (main.getcol(c, first_row, len(predicted)) for c in ("ANTENNA1", "ANTENNA2"))
                data = selfcal.corrected(data, parallel, a1, a2, gains)
            data -= predicted
            main.putcol("DATA", data, startrow=first_row, nrow=len(predicted))


def restore(image: np.ndarray, header, sources: Catalog, pb: np.ndarray) -> np.ndarray:
    """``image`` plus each source as clean would have left it had it been PSF-shaped: a point
    as the restoring beam, a Gaussian as the beam convolved with its shape (the same
    integrated flux), of flux at the image frequency x pb at its position."""
    beam = RestoringBeam.from_header(header)
    x, y = WCS(header).celestial.world_to_pixel(SkyCoord(sources.table["ra_deg"], sources.table["dec_deg"], unit="deg"))
    fluxes = sources.flux_at([float(header["CRVAL3"])])[:, 0]
    shapes = sources.shapes_rad()
    sigmas = np.rad2deg(shapes[:, :2]) / abs(header["CDELT2"]) * FWHM_TO_SIGMA  # pixels
    out = image.copy()
    for xk, yk, flux, (major, minor), pa in zip(np.atleast_1d(x), np.atleast_1d(y), fluxes, sigmas, shapes[:, 2]):
        seen = beam.convolved(RestoringBeam(major, minor, pa)) if major > 0 else beam
        half = int(np.ceil(5 * seen.sigma_major))
        ix, iy = int(round(float(xk))), int(round(float(yk)))
        x0, x1 = max(ix - half, 0), min(ix + half + 1, image.shape[1])
        y0, y1 = max(iy - half, 0), min(iy + half + 1, image.shape[0])
        yy, xx = np.mgrid[y0:y1, x0:x1]
        out[y0:y1, x0:x1] += flux * beam.area / seen.area * pb[iy, ix] * seen.response(xx - xk, yy - yk)
    return out
