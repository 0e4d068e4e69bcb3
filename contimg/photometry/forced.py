"""Forced photometry: every catalogue source measured at its position, all in one pass.

The position is the catalogue's, or this image's own: a survey's positions are off by
arcseconds (NVSS: ~1-5"), which at DSA-110's ~15-25" beam costs a point source several per
cent of its peak, so a source the image detects on its own (point-like, at least
``photometry.position_min_snr``) is measured where the detection is (`at_detections`).

At a known position the least-squares amplitude of the restoring beam B (unit peak, centred
on the sub-pixel position) in the background-subtracted image I is the matched filter
(Condon 1997, point source of known position)

    A = sum(B (I - bkg)) / sum(B^2)        (Jy/beam, apparent)

computed for all sources at once on stacked cut-outs. The image noise is correlated over
the (dirty) beam, so A's noise is not simply the pixel rms: each image's factor is measured
by running the same filter at random places in its residual (`correlated_noise_factor`),
and the error of A is that factor times the local rms. Flux density = A / pb at the
position; its error is error of A / pb: the image's noise. Flux-scale errors, which noise
does not describe, are measured per night when a night's tables are gathered
(`systematic`, `lightcurves.gather`) and added to the errors there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from ..imaging.qa import robust_rms
from ..imaging.restoring_beam import RestoringBeam
from ..sky import Catalog

# bits of the `flags` column (0: a clean measurement)
FLAG_EDGE = 1  # the filter's box leaves the image or holds blank pixels: no flux
FLAG_BLENDED = 2  # another catalogue source's beam reaches this position (response >= BLEND_RESPONSE)
FLAG_NEAR_EDGE = 4  # within the edge margin of the image's border, where fluxes are less reliable
FLAG_RESOLVED = 8  # the catalogue's size is resolved by this image's beam (`sky.Catalog.resolved`): flux_jy is its peak
UNRELIABLE = FLAG_EDGE | FLAG_NEAR_EDGE | FLAG_RESOLVED  # left out of the light curves' metrics
BLEND_RESPONSE = 0.1

COLUMNS = [
    "name",
    "ra_deg",
    "dec_deg",
    "x_pix",
    "y_pix",
    "pb",
    "catalog_flux_jy",
    "peak_jy_beam",
    "local_rms_jy",
    "flux_jy",
    "flux_err_jy",
    "snr",
    "flags",
    "position_from",  # "catalog", or "detection": this image's own point-like detection of the source
]


def edge_distance(x, y, shape: tuple[int, int]) -> np.ndarray:
    """Pixels from (x, y) to the nearest border of an image of ``shape`` (ny, nx)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.minimum.reduce([x, y, shape[1] - 1 - x, shape[0] - 1 - y])


def half_box(beam: RestoringBeam) -> int:
    """Half-width (pixels) of the filter's box: the beam to 2.5 sigma along its major axis."""
    return int(np.ceil(2.5 * beam.sigma_major))


def matched_filter(
    image: np.ndarray, x: np.ndarray, y: np.ndarray, beam: RestoringBeam, chunk: int = 1024
) -> np.ndarray:
    """Beam amplitude at sub-pixel positions (x, y) for all positions at once; NaN where the
    box leaves the image or holds a blank pixel."""
    half = half_box(beam)
    offsets = np.arange(-half, half + 1)
    out = np.full(len(x), np.nan)
    ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
    inside = (ix >= half) & (iy >= half) & (ix < image.shape[1] - half) & (iy < image.shape[0] - half)
    idx = np.flatnonzero(inside)
    for start in range(0, len(idx), chunk):
        k = idx[start : start + chunk]
        rows = iy[k, None, None] + offsets[None, :, None]
        cols = ix[k, None, None] + offsets[None, None, :]
        stamps = image[rows, cols]
        weights = beam.response(cols - x[k, None, None], rows - y[k, None, None])
        out[k] = (stamps * weights).sum(axis=(1, 2)) / (weights * weights).sum(axis=(1, 2))
    return out


def correlated_noise_factor(
    residual: np.ndarray, usable: np.ndarray, beam: RestoringBeam, n: int = 3000, seed: int = 0
) -> float:
    """Robust spread of the matched filter at ``n`` random places of the residual where
    ``usable``, over the residual's robust pixel rms (fixed seed: reproducible)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(usable)
    pick = rng.choice(len(ys), size=min(n, len(ys)), replace=False)
    x = xs[pick] + rng.uniform(-0.5, 0.5, len(pick))
    y = ys[pick] + rng.uniform(-0.5, 0.5, len(pick))
    return robust_rms(matched_filter(residual, x, y, beam)) / robust_rms(residual[usable])


def blended(x: np.ndarray, y: np.ndarray, beam: RestoringBeam) -> np.ndarray:
    """True where another position's beam response at this one is >= BLEND_RESPONSE."""
    flag = np.zeros(len(x), bool)
    reach = beam.sigma_major * np.sqrt(-2 * np.log(BLEND_RESPONSE))
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(reach, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    close = beam.response(x[i] - x[j], y[i] - y[j]) >= BLEND_RESPONSE
    flag[i[close]] = flag[j[close]] = True
    return flag


@dataclass(frozen=True)
class ImageMaps:
    """What the filter needs from one image: the image minus its background, the noise map,
    the primary beam (all on the image's grid), the restoring beam, the correlated-noise
    factor."""

    signal: np.ndarray
    rms: np.ndarray
    pb: np.ndarray
    beam: RestoringBeam
    noise_factor: float


def fluxes_at(maps: ImageMaps, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Columns peak_jy_beam, local_rms_jy, pb, flux_jy, flux_err_jy, snr at pixel positions
    (x, y) inside the image (NaN fluxes where the filter's box leaves it)."""
    ix = np.clip(np.rint(x).astype(int), 0, maps.pb.shape[1] - 1)
    iy = np.clip(np.rint(y).astype(int), 0, maps.pb.shape[0] - 1)
    gain = maps.pb[iy, ix].astype(float)
    peak = matched_filter(maps.signal, np.asarray(x, float), np.asarray(y, float), maps.beam)
    local_rms = maps.rms[iy, ix].astype(float)
    err = maps.noise_factor * local_rms
    return pd.DataFrame(
        {
            "peak_jy_beam": peak,
            "local_rms_jy": local_rms,
            "pb": gain,
            "flux_jy": peak / gain,
            "flux_err_jy": err / gain,
            "snr": peak / err,
        }
    )


def at_detections(catalog: Catalog, detections: pd.DataFrame, min_snr: float, beam_minor_arcsec: float) -> Catalog:
    """``catalog`` with each source moved to its most significant point-like detection in
    ``detections`` (`blind.cross_match`'s table) of significance >= ``min_snr``; column
    ``position_from`` says where each position comes from. A source the beam resolves keeps
    the catalogue's position: a point-like lump of its emission is not where it is."""
    table = catalog.table.copy()
    table["position_from"] = "catalog"
    compact = table.loc[~catalog.resolved(beam_minor_arcsec), "name"]
    good = detections[
        detections["catalog_name"].isin(compact) & detections["point_like"] & (detections["significance"] >= min_snr)
    ]
    best = good.sort_values("significance").drop_duplicates("catalog_name", keep="last").set_index("catalog_name")
    hit = table["name"].isin(best.index).to_numpy()
    names = table.loc[hit, "name"]
    table.loc[hit, "ra_deg"] = best.loc[names, "ra_deg"].to_numpy()
    table.loc[hit, "dec_deg"] = best.loc[names, "dec_deg"].to_numpy()
    table.loc[hit, "position_from"] = "detection"
    return Catalog(table)


def measure(maps: ImageMaps, header, catalog: Catalog, pb_cut: float, edge_margin_pixels: float) -> pd.DataFrame:
    """One row per catalogue source inside the image where pb >= ``pb_cut`` (columns
    ``COLUMNS``; ``position_from`` "catalog" unless ``catalog`` says otherwise, `at_detections`).
    A source the beam resolves is measured the same way (its peak) and flagged ``FLAG_RESOLVED``."""
    table = catalog.table
    x, y = WCS(header).celestial.world_to_pixel(
        SkyCoord(table["ra_deg"].to_numpy(), table["dec_deg"].to_numpy(), unit="deg")
    )
    ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
    on_image = (ix >= 0) & (iy >= 0) & (ix < maps.pb.shape[1]) & (iy < maps.pb.shape[0])
    gain = np.zeros(len(x))
    gain[on_image] = maps.pb[iy[on_image], ix[on_image]]
    keep = np.flatnonzero(on_image & (gain >= pb_cut))
    x, y = x[keep], y[keep]
    measured = fluxes_at(maps, x, y)
    near_edge = edge_distance(x, y, maps.pb.shape) < edge_margin_pixels
    flags = (
        np.where(np.isfinite(measured["peak_jy_beam"]), 0, FLAG_EDGE)
        | np.where(blended(x, y, maps.beam), FLAG_BLENDED, 0)
        | np.where(near_edge, FLAG_NEAR_EDGE, 0)
        | np.where(catalog.resolved(3600 * float(header["BMIN"]))[keep], FLAG_RESOLVED, 0)
    )
    rows = measured.assign(
        name=table["name"].to_numpy()[keep],
        ra_deg=table["ra_deg"].to_numpy()[keep],
        dec_deg=table["dec_deg"].to_numpy()[keep],
        x_pix=x,
        y_pix=y,
        catalog_flux_jy=catalog.flux_at([float(header["CRVAL3"])])[keep, 0],
        flags=flags.astype(np.int32),
        position_from=table["position_from"].to_numpy()[keep] if "position_from" in table else "catalog",
    )
    return rows[COLUMNS].sort_values("name", kind="stable").reset_index(drop=True)
