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
baselines see less of it) and leaves its extended part in the data.

A survey's catalogue is wrong in three ways the model must not carry into the image:
- fluxes (10 % and more): each source's flux is fitted to the data (`fitted_fluxes`);
- spectral indices (a survey gives none; the default -0.7 is off by ~0.1-0.3): fitted with
  the flux, pivoted at the image's frequency. With the default index the band-fitted flux
  is off at that frequency by (index error) x the fit's mean ln(frequency / pivot), which
  the beam's fall with frequency and the fit's channels pull below 0 (night F's bright
  sources: -0.020 per unit of index error, -0.005 with the index fitted);
- positions (NVSS: 1-7"): a source subtracted 2" from where it is leaves a +- pair of
  ~15 % of its flux, and its fitted flux comes out low by up to 15 % (6"). Clean takes most
  of both back, not all: on a foreign night (bench/foreign_night.py, seed 53) the bright
  restored sources kept a per-source error of ~0.5-1 %: the pulls' robust width of the 44
  restored SNR >= 20 rows 1.30 (1.09 once the fit moves them, 0.97 with the spectral index
  as well; all 51 rows: 1.44, 1.21, 1.08). The sources inside
  the image are moved where the data put them (`fitted_positions`) before their fluxes
  are fitted; those outside keep the catalogue's positions (seen through sidelobes, their
  positions are poorly measured and matter less).
What the model still misses stays in the visibilities as an ordinary (nearly PSF-shaped)
source that clean picks up, so measured fluxes follow the sky.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from casacore.tables import table

from ..calibration import model
from ..layout import Layout
from ..sky import REFERENCE_FREQ_HZ, Catalog
from . import selfcal
from .restoring_beam import FWHM_TO_SIGMA, RestoringBeam

FIT_CHANNELS = 16  # channels the flux fit reads, spread over the band (`fitted_fluxes`; docs/performance.md)
FIT_ROWS = 20000  # rows at a time: (sources x rows x channels) complex predictions in memory
FIT_PRIOR = 1e-3  # the pull towards the catalogue flux, relative to each source's own information
FIT_DECIMALS = 4
POSITION_ITERATIONS = 2  # Gauss-Newton steps: a survey's few-arcsecond errors converge in two (unit test)
POSITION_CHANNELS = 4  # channels the position fit reads: its cost grows as (sources + 2 x inside)^2
SHIFT_DECIMALS = 3  # arcsec
MAX_INDEX_CHANGE = 1.5  # the fitted change of a spectral index is held within +- this
INDEX_SPREAD = 0.25  # spectral indices' spread about the default -0.7 (bright 1.4 GHz sources: ~0.2-0.3)


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


def _normal_equations(
    ms: str,
    sources: Catalog,
    pointing_dec_rad: float,
    layout: Layout,
    dish_m: float,
    gains,
    pivot_hz: float | None = None,
    movable: np.ndarray | None = None,
    channels: int = FIT_CHANNELS,
    column: str = "DATA",
) -> tuple[np.ndarray, np.ndarray]:
    """(A, b): the real normal matrix and right-hand side of ``column`` (corrected by ``gains``)
    against every source's own predicted visibility (`model.MSPrediction.per_source`), over
    the unflagged parallel hands of about ``channels`` channels spread over the band. After
    them, for the ``movable`` ones: with a ``pivot_hz`` their visibilities times
    ln(frequency / pivot) (a change of spectral index), without one their change per arcsec
    east, then per arcsec north (`model.MSPrediction.per_arcsec`)."""
    which = np.flatnonzero(np.zeros(len(sources), bool) if movable is None else movable)
    n = len(sources) + len(which) * (1 if pivot_hz is not None else 2)
    with table(ms, ack=False) as main:
        prediction = model.ms_prediction(main, sources, pointing_dec_rad, layout, dish_m)
        n_chan = sum(len(freqs) for _, _, freqs in prediction.windows)
        stride = max(1, n_chan // channels)
        normal, rhs = np.zeros((n, n)), np.zeros(n)
        for first_row, n_rows, freqs in prediction.windows:
            for start in range(0, n_rows, FIT_ROWS):
                rows = min(FIT_ROWS, n_rows - start)
                cells = {
                    c: main.getcolslice(c, [0, 0], [-1, -1], [stride, 1], startrow=first_row + start, nrow=rows)
                    for c in (column, "FLAG")
                }
                a1, a2, time = (main.getcol(c, first_row + start, rows) for c in ("ANTENNA1", "ANTENNA2", "TIME"))
                data = selfcal.corrected(cells[column], prediction.parallel, a1, a2, time, gains)[
                    ..., prediction.parallel
                ]
                used = ~cells["FLAG"][..., prediction.parallel] & np.isfinite(data)
                weight = used.sum(axis=-1).ravel()  # (rows x channels) unflagged parallel hands
                summed = np.where(used, data, 0).sum(axis=-1).ravel()
                fit_freqs = freqs[::stride]
                each = prediction.per_source(first_row + start, rows, fit_freqs)
                columns = [each]
                if pivot_hz is not None:
                    columns.append(each[which] * np.log(fit_freqs / pivot_hz))
                elif len(which):
                    columns.append(prediction.per_arcsec(first_row + start, rows, fit_freqs, each[which], which))
                each = np.concatenate(columns).reshape(n, -1)
                # Re(conj(a) b) = a.real b.real + a.imag b.imag: real products, the normal matrix one A A^T
                rooted = np.sqrt(weight)
                stacked = np.concatenate([each.real * rooted, each.imag * rooted], axis=1)
                normal += stacked @ stacked.T
                rhs += each.real @ summed.real + each.imag @ summed.imag
    return normal, rhs


def _solve(normal: np.ndarray, rhs: np.ndarray, prior: np.ndarray, precision: np.ndarray | float = 0.0) -> np.ndarray:
    """The least-squares parameters, each pulled towards ``prior`` weakly (`FIT_PRIOR` of its
    own information) plus ``precision`` (in the normal matrix's units); a parameter without
    data keeps its prior."""
    diagonal = np.diag(normal)
    seen = diagonal > 0
    out = prior.astype(float)
    pull = FIT_PRIOR * diagonal[seen] + np.broadcast_to(precision, diagonal.shape)[seen]
    out[seen] = np.linalg.solve(normal[np.ix_(seen, seen)] + np.diag(pull), rhs[seen] + pull * prior[seen])
    return out


def noise_variance(ms: str) -> float:
    """A visibility's noise variance (Jy^2): 1 / the median positive WEIGHT of the MS."""
    with table(ms, ack=False) as main:
        weight = main.getcol("WEIGHT")
    return 1.0 / float(np.median(weight[weight > 0]))


def fitted_fluxes(
    ms: str,
    sources: Catalog,
    refined: np.ndarray,
    pointing_dec_rad: float,
    layout: Layout,
    dish_m: float,
    gains=None,
    column: str = "DATA",
) -> Catalog:
    """``sources`` with their fluxes, and the ``refined`` ones' spectral indices, fitted jointly
    to the MS's ``column``: linear least squares of the unflagged parallel hands against every
    source's own predicted visibility and the refined ones' change with spectral index
    (`_normal_equations`), pivoted at the MS's mean frequency (the image's). Column
    ``fitted_scale`` is the flux there over the catalogue's, ``fitted_index_change`` the
    change of spectral index (within +-`MAX_INDEX_CHANGE`; 0 for a source fitted at no flux,
    and for those not refined: seen through the sidelobes, whose pattern changes along the
    band, a source's index and flux are too alike to the fit). The change is pulled towards 0
    as a Gaussian prior of width `INDEX_SPREAD` would (with the visibilities' noise from their
    weights, `noise_variance`): a faint source's index is barely measured, and unpulled its
    noise would pass to its flux at the pivot (the fit's own mean frequency is not the
    pivot: the beam falls along the band). A weak pull (`FIT_PRIOR`) towards the catalogue
    keeps two entries that the array cannot tell apart (a double within the beam) from
    trading flux. The data are first corrected by ``gains``
    (`selfcal.phase_gains`; default none). Rounded (`FIT_DECIMALS`): far below the fit's
    precision, and the same in every run."""
    pivot, n, which = model.mean_frequency(ms), len(sources), np.flatnonzero(refined)
    normal, rhs = _normal_equations(ms, sources, pointing_dec_rad, layout, dish_m, gains, pivot, refined, column=column)
    index_precision = np.r_[np.zeros(n), np.full(len(which), noise_variance(ms) / INDEX_SPREAD**2)]
    fitted = _solve(normal, rhs, np.r_[np.ones(n), np.zeros(len(which))], index_precision)
    scale = np.round(fitted[:n], FIT_DECIMALS)
    change = np.zeros(n)
    change[which] = fitted[n:] / np.where(scale[which] > 0, fitted[which], np.inf)
    change = np.round(np.clip(change, -MAX_INDEX_CHANGE, MAX_INDEX_CHANGE), FIT_DECIMALS)
    listed = sources.table
    return Catalog(
        listed.assign(
            flux_jy=listed["flux_jy"] * np.clip(scale, 0.0, None) * (REFERENCE_FREQ_HZ / pivot) ** change,
            spectral_index=listed["spectral_index"] + change,
            fitted_scale=scale,
            fitted_index_change=change,
        )
    )


def _moved(table: pd.DataFrame, rows: np.ndarray, east_arcsec, north_arcsec) -> pd.DataFrame:
    """``table``'s ``rows`` moved east and north (arcsec, on the sky)."""
    out = table.iloc[rows].copy()
    out["ra_deg"] += np.asarray(east_arcsec) / 3600.0 / np.cos(np.deg2rad(out["dec_deg"]))
    out["dec_deg"] += np.asarray(north_arcsec) / 3600.0
    return out


def fitted_positions(
    ms: str,
    sources: Catalog,
    movable: np.ndarray,
    max_shift_arcsec: float,
    pointing_dec_rad: float,
    layout: Layout,
    dish_m: float,
    gains=None,
) -> tuple[Catalog, np.ndarray]:
    """``sources`` with the ``movable`` ones moved to where DATA (corrected by ``gains``) puts
    them, and every source's flux there as a multiple of its catalogue flux (the last step's;
    on few channels: a model for self-calibration, `fitted_fluxes` measures them properly):
    Gauss-Newton steps (`POSITION_ITERATIONS`) of the joint fit of every source's flux and
    each movable one's offset east and north (`_normal_equations`, on `POSITION_CHANNELS`
    channels: positions need the baselines, not the band). A fitted offset beyond
    ``max_shift_arcsec`` is not this source's (another's sidelobe, a blend): it keeps its
    catalogue position. Columns ``shift_east_arcsec`` and ``shift_north_arcsec`` hold the
    offsets (rounded to `SHIFT_DECIMALS`: far below their precision, the same in every run)."""
    listed = sources.table.reset_index(drop=True)
    rows = np.flatnonzero(movable)
    n, m = len(listed), len(rows)
    shift = np.zeros((2, m))
    for _ in range(POSITION_ITERATIONS):
        here = listed.copy()
        here.loc[rows] = _moved(listed, rows, *shift)
        normal, rhs = _normal_equations(
            ms, Catalog(here), pointing_dec_rad, layout, dish_m, gains, movable=movable, channels=POSITION_CHANNELS
        )
        fitted = _solve(normal, rhs, np.r_[np.ones(n), np.zeros(2 * m)])
        flux = np.where(fitted[rows] > 0, fitted[rows], np.inf)  # no flux: no offset
        shift += np.stack([fitted[n : n + m], fitted[n + m :]]) / flux
    shift = np.where(np.hypot(*shift) <= max_shift_arcsec, np.round(shift, SHIFT_DECIMALS), 0.0)
    moved = listed.assign(shift_east_arcsec=0.0, shift_north_arcsec=0.0)
    moved.loc[rows] = _moved(moved, rows, *shift).assign(shift_east_arcsec=shift[0], shift_north_arcsec=shift[1])
    return Catalog(moved), fitted[:n]


def subtract(ms: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, gains=None) -> None:
    """DATA -= the visibilities of ``sources`` (predicted as for calibration, `model.model_blocks`),
    DATA first corrected by ``gains`` (`selfcal.phase_gains`; default none)."""
    parallel = model.parallel_hands(ms)
    with table(ms, readonly=False, ack=False) as main:
        for first_row, predicted in model.model_blocks(main, sources, pointing_dec_rad, layout, dish_m):
            data = main.getcol("DATA", startrow=first_row, nrow=len(predicted))
            if gains is not None:
                a1, a2, time = (main.getcol(c, first_row, len(predicted)) for c in ("ANTENNA1", "ANTENNA2", "TIME"))
                data = selfcal.corrected(data, parallel, a1, a2, time, gains)
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
