"""Blind detections: AegeanTools' BANE (background and noise maps) and aegean (source
finding), cross-matched with the catalogue; what matches nothing is a new-source candidate.

BANE runs on the residual image, so its noise map is free of the sources themselves; the
restored image = residual + clean components, so the residual's background is the image's.
The same maps serve the forced photometry.

What is not a new source, though kept in the table (measured on the demo night, where 39
of 40 unmatched 5-sigma detections were false and the transient was at 310 sigma):

- ``near_edge``: within the edge margin (``photometry.edge_margin_beams`` restoring-beam
  major axes) of the image's border, where sources just outside the image and the gridder's edge leave distorted
  islands (21 of the 39);
- ``near_bright``: within ``artefact_radius_arcmin`` of a catalogue source whose flux times
  ``artefact_flux_fraction`` reaches the candidate's (its flux: the catalogue's or, when
  larger, what this image's detection matched to it measures; a survey's fluxes are ~10 %
  off, and on a simulated survey night a 37" artefact of a 0.39 Jy source listed low was at
  4.6 % of it and called new), or within ``sidelobe_band_arcmin`` of
  its declination or of its RA anywhere in the image (the stripes of the east-west and
  north-south arms' sidelobes, the cross a calibrator's subtraction residual draws through
  the image): a bright source's residual artefacts. Where the catalogue's flux of a subtracted source is off
  (15 % in tests/science) its residual is not PSF-shaped either and left 8-12 sigma
  candidates 40-50 arcmin east or west of 0.25-0.4 Jy sources, at their declination;
- below ``new_source_min_snr``: the residual noise is not Gaussian (calibration and
  subtraction errors; rms 1.2-1.8x thermal), and the 14 false candidates away from edges
  and catalogue sources were at 5.1-7.0 sigma;
- not ``point_like``: a fitted major or minor axis off the restoring beam's by more than
  ``shape_tolerance`` (a new source is unresolved; stripes along a sidelobe fit long and
  noise blobs short: with catalogue fluxes 15 % off, the residuals of subtracted sources
  gave 9-12 sigma candidates with axes 1.47x and 0.42x the beam's; the transient fitted
  0.995x and 0.997x, catalogued sources 0.90-1.00x at the quartiles).
- beside a dip: the residual image within ``dipole_radius_beams`` beam major axes holds a
  negative peak deeper than ``dipole_fraction`` of the candidate's significance (column
  ``dip_snr``, residual over noise map). The sky has no negative sources: a positive peak
  with a comparable negative one a beam away is the +/- residual of a source subtracted
  or cleaned with the wrong flux, position or beam (an 8.2-sigma candidate 50" from a
  0.98 Jy source, on the simulated survey night E, had a -10.6 sigma dip beside it; real
  sources there had dips of -1.8 to -3.8 sigma, Gaussian noise in the ~20 beams of the disc
  reaches -4 sigma once in ~1,500);
- ``aliased``: where a catalogue source outside the imaged field folds into the image. WSClean
  grids a field padded to ``padding`` x the image's width, and a source beyond it appears
  one padded width away, attenuated only by the gridding kernel's taper (night E's other
  false candidate, 11.5 sigma at the image's east edge, was 43" from the fold of a 0.15 Jy
  source 2.5 deg west of the centre, at 0.84 of that source's apparent flux). A candidate
  within ``alias_radius_beams`` of the fold of a source whose apparent flux (catalogue flux
  times the band-averaged Airy power at its offset) is at least ``alias_flux_fraction`` of
  the candidate's peak is marked.
The match radius is in beam major axes because positions of islands distorted by a
neighbour or the edge scatter along the elongated beam (4 false candidates sat 30-48"
from their catalogue source, inside one 65" major axis). A catalogue source the beam
resolves (`sky.Catalog.resolved`) reaches its major axis further: clean leaves its extended
emission as lumps that aegean fits as point-like islands (15-20 sigma, 40-50" from the
centre of a 61" x 45" Gaussian on the simulated survey night), and they are that source.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from .. import beam
from ..settings import Blind
from ..sky import Catalog
from . import forced
from .forced import edge_distance

COLUMNS = [
    "ra_deg",
    "dec_deg",
    "err_ra_arcsec",
    "err_dec_arcsec",
    "peak_jy_beam",
    "err_peak_jy_beam",
    "int_flux_jy",
    "a_arcsec",
    "b_arcsec",
    "pa_deg",
    "local_rms_jy",
    "significance",
    "pb",
    "flux_jy",
    "aegean_flags",
    "catalog_name",
    "separation_arcsec",
    "near_edge",
    "near_bright",
    "point_like",
    "dip_snr",
    "aliased",
    "new_source",
    "forced_flux_jy",
    "forced_flux_err_jy",
]


def _quiet_aegean() -> None:
    """AegeanTools logs every step to its own console handler: keep its warnings, in the job's log."""
    aegean_log = logging.getLogger("AegeanTools")
    aegean_log.handlers.clear()
    aegean_log.setLevel(logging.WARNING)


def background_maps(residual: Path, out_base: Path) -> tuple[Path, Path]:
    """BANE on the residual image: (background map, noise map) FITS paths, on the image's grid.

    BANE runs in one process: with several, its stripes meet at a multiprocessing barrier
    that the first one through resets while another may already wait at the next (BANE
    2.3.5), and a photometry job hung for ever on a +16 deg group's residual.

    BANE sees every k-th pixel of each axis, k keeping at least 2 pixels across the beam's
    minor axis (pixels are correlated over the beam, so its boxes hold nearly the same
    statistics); its maps are interpolated back to every pixel. On a demo group's residual
    (5 pixels across the minor axis, k = 2) the noise map is within 1.2 % of BANE's on every
    pixel at the 1-99 percentiles (2.7 % at 0.1-99.9) at 1/4.6 of the time (7 s against 32 s),
    where BANE's own choice of grid (27 or 28 pixels) moves it by 6 % (14 %).
    """
    from AegeanTools import BANE

    _quiet_aegean()
    with fits.open(residual) as hdul:
        header, data = hdul[0].header, hdul[0].data
    k = max(1, int(header["BMIN"] / abs(header["CDELT2"]) // 2))
    sparse = header.copy()
    for axis in (1, 2):
        sparse[f"CDELT{axis}"] *= k
        sparse[f"CRPIX{axis}"] = (header[f"CRPIX{axis}"] - 1) / k + 1
    sparse_path = Path(f"{out_base}_sparse.fits")
    fits.PrimaryHDU(data[..., ::k, ::k], sparse).writeto(sparse_path)
    BANE.filter_image(str(sparse_path), str(sparse_path.with_suffix("")), cores=1)
    paths = Path(f"{out_base}_bkg.fits"), Path(f"{out_base}_rms.fits")
    for kind, path in zip(("bkg", "rms"), paths):
        coarse = np.squeeze(fits.getdata(f"{sparse_path.with_suffix('')}_{kind}.fits"))
        full = _upsampled(coarse, k, data.shape[-2:])
        full[~np.isfinite(np.squeeze(data))] = np.nan
        fits.PrimaryHDU(full.reshape(data.shape), header).writeto(path)
    return paths


def _upsampled(coarse: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """``coarse`` (every k-th pixel of an image of ``shape``) interpolated linearly back to every
    pixel, edges held: scipy's map_coordinates(order=1, mode="nearest") on the full grid, done
    as one pass per axis (0.8 s instead of 1.7 s for a full-size group's 3776^2 map)."""

    def weights(n_full: int, n_coarse: int):
        at = np.arange(n_full) / k
        low = np.clip(np.floor(at).astype(int), 0, n_coarse - 1)
        return low, np.minimum(low + 1, n_coarse - 1), np.clip(at - low, 0.0, 1.0)

    y0, y1, wy = weights(shape[0], coarse.shape[0])
    x0, x1, wx = weights(shape[1], coarse.shape[1])
    rows = coarse[y0] * (1 - wy)[:, None] + coarse[y1] * wy[:, None]
    return (rows[:, x0] * (1 - wx) + rows[:, x1] * wx).astype(np.float32)


def find_sources(image: Path, bkg: Path, rms: Path, seed_clip: float, flood_clip: float, cores: int) -> pd.DataFrame:
    """aegean's components of the positive islands of ``image`` (sorted by position), one
    summit fitted per island: with more, aegean split the transient's island into two
    components of 0.54x the beam's major axis (neither point-like) and fitted a sidelobe
    stripe as a 12-sigma beam-sized source, differently from run to run."""
    from AegeanTools.source_finder import SourceFinder

    _quiet_aegean()
    with warnings.catch_warnings():  # numpy's on the covariance of islands too small to fit (flagged by aegean)
        warnings.simplefilter("ignore", RuntimeWarning)
        found = SourceFinder().find_sources_in_image(
            str(image),
            bkgin=str(bkg),
            rmsin=str(rms),
            innerclip=seed_clip,
            outerclip=flood_clip,
            cores=cores,
            nonegative=True,
            cube_index=0,
            max_summits=1,
            progress=False,
        )
    table = pd.DataFrame(
        {
            "ra_deg": [s.ra for s in found],
            "dec_deg": [s.dec for s in found],
            "err_ra_arcsec": [3600 * s.err_ra for s in found],
            "err_dec_arcsec": [3600 * s.err_dec for s in found],
            "peak_jy_beam": [s.peak_flux for s in found],
            "err_peak_jy_beam": [s.err_peak_flux for s in found],
            "int_flux_jy": [s.int_flux for s in found],
            "a_arcsec": [s.a for s in found],
            "b_arcsec": [s.b for s in found],
            "pa_deg": [s.pa for s in found],
            "local_rms_jy": [s.local_rms for s in found],
            "aegean_flags": [int(s.flags) for s in found],
        },
        columns=COLUMNS[:11] + ["aegean_flags"],
    )
    table["significance"] = table["peak_jy_beam"] / table["local_rms_jy"]
    return table.sort_values(["ra_deg", "dec_deg"]).reset_index(drop=True)


def cross_match(
    detections: pd.DataFrame, catalog: Catalog, pb: np.ndarray, header, edge_margin_pixels: float, limits: Blind
) -> pd.DataFrame:
    """Add the catalogue source within reach (`_reached_by`), the primary beam and flux
    density, and the near-edge, near-bright and new-source flags (see the module's docstring)."""
    out = detections.copy()
    beam_major_deg = header["BMAJ"]
    match_radius_arcsec = limits.match_radius_beams * 3600 * beam_major_deg
    where = SkyCoord(out["ra_deg"].to_numpy(), out["dec_deg"].to_numpy(), unit="deg")
    x, y = WCS(header).celestial.world_to_pixel(where)
    out["near_edge"] = edge_distance(x, y, pb.shape) < edge_margin_pixels
    iy = np.clip(np.rint(y).astype(int), 0, pb.shape[0] - 1)
    ix = np.clip(np.rint(x).astype(int), 0, pb.shape[1] - 1)
    out["pb"] = pb[iy, ix].astype(float) if len(out) else []
    out["flux_jy"] = out["peak_jy_beam"] / out["pb"]
    sky = SkyCoord(catalog.table["ra_deg"].to_numpy(), catalog.table["dec_deg"].to_numpy(), unit="deg")
    if len(out) and len(sky):
        sep = where[:, None].separation(sky[None, :]).arcsec
        reached = _reached_by(sep, match_radius_arcsec, catalog, 3600 * header["BMIN"])
        matched = reached >= 0
        out["catalog_name"] = np.where(matched, catalog.table["name"].to_numpy()[reached], "")
        out["separation_arcsec"] = np.where(matched, sep[np.arange(len(sep)), reached], sep.min(axis=1))
        seen = np.zeros(len(sky))  # each catalogue source's flux as its matched detections measure it
        np.maximum.at(seen, reached[matched], np.nan_to_num(out["flux_jy"].to_numpy(float)[matched]))
        listed = catalog.flux_at([float(header["CRVAL3"])])[:, 0]
        bright_flux = np.maximum(listed, seen) * limits.artefact_flux_fraction
        close = sep / 60 <= limits.artefact_radius_arcmin
        band = limits.sidelobe_band_arcmin / 60
        same_dec = np.abs(out["dec_deg"].to_numpy(float)[:, None] - sky.dec.deg[None, :]) <= band
        d_ra = (out["ra_deg"].to_numpy(float)[:, None] - sky.ra.deg[None, :] + 180) % 360 - 180
        same_ra = np.abs(d_ra * np.cos(np.deg2rad(out["dec_deg"].to_numpy(float)))[:, None]) <= band
        pairs = close | same_dec | same_ra
        out["near_bright"] = (pairs & (bright_flux[None, :] >= out["flux_jy"].to_numpy()[:, None])).any(axis=1)
    else:
        out["catalog_name"], out["separation_arcsec"], out["near_bright"] = "", np.nan, False
    tolerance = limits.shape_tolerance
    out["point_like"] = (np.abs(out["a_arcsec"] / (3600 * beam_major_deg) - 1) <= tolerance) & (
        np.abs(out["b_arcsec"] / (3600 * header["BMIN"]) - 1) <= tolerance
    )
    out["new_source"] = (
        (out["catalog_name"] == "")
        & ~out["near_edge"]
        & ~out["near_bright"]
        & out["point_like"]
        & (out["significance"] >= limits.new_source_min_snr)
    )
    return out


def flag_dips(detections: pd.DataFrame, residual: np.ndarray, rms: np.ndarray, header, limits: Blind) -> pd.DataFrame:
    """``detections`` with ``dip_snr``, the most negative residual / noise within
    ``dipole_radius_beams`` major axes of each, and no new source where that dip is deeper than
    ``dipole_fraction`` of the detection's significance (module docstring)."""
    out = detections.copy()
    radius = limits.dipole_radius_beams * header["BMAJ"] / abs(header["CDELT2"])
    x, y = WCS(header).celestial.world_to_pixel_values(out["ra_deg"].to_numpy(), out["dec_deg"].to_numpy())
    dips = np.full(len(out), np.nan)
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = dy**2 + dx**2 <= radius**2
    padded = np.pad(residual / rms, r, constant_values=np.nan)
    for i, (xi, yi) in enumerate(zip(np.rint(x).astype(int), np.rint(y).astype(int))):
        if 0 <= yi < residual.shape[0] and 0 <= xi < residual.shape[1]:
            window = padded[yi : yi + 2 * r + 1, xi : xi + 2 * r + 1]
            dips[i] = np.nanmin(np.where(disc, window, np.nan), initial=0.0)
    out["dip_snr"] = dips
    beside_dip = dips < -limits.dipole_fraction * out["significance"].to_numpy(float)
    out["new_source"] = out["new_source"] & ~beside_dip
    return out


def flag_aliases(
    detections: pd.DataFrame, catalog: Catalog, header, padding: float, dish_m: float, limits: Blind
) -> pd.DataFrame:
    """``detections`` with ``aliased`` (module docstring) and no new source where it is set.

    The fold of a source at pixel (x, y) is at (x + i P, y + j P) for i, j in -1..1 (not both
    0), P the padded width in pixels (``padding`` x the image's; WSClean rounds it up by a
    few pixels, well inside the radius)."""
    out = detections.copy()
    out["aliased"] = False
    if out.empty or catalog.table.empty:
        return out
    wcs = WCS(header).celestial
    ny, nx = int(header["NAXIS2"]), int(header["NAXIS1"])
    sources = SkyCoord(catalog.table["ra_deg"].to_numpy(float), catalog.table["dec_deg"].to_numpy(float), unit="deg")
    offset = sources.separation(SkyCoord(header["CRVAL1"], header["CRVAL2"], unit="deg")).rad
    freq, width = float(header["CRVAL3"]), abs(float(header.get("CDELT3", 0.0)))
    band = freq + width * np.linspace(-0.5, 0.5, 9)
    apparent = catalog.flux_at([freq])[:, 0] * beam.airy_power(offset[:, None], band, dish_m).mean(axis=1)
    # the others fold too faint; beyond 90 deg the Airy formula (in sin theta) would climb back to 1
    strong = (apparent >= limits.alias_flux_fraction * out["peak_jy_beam"].min()) & (offset < np.pi / 2)
    sources, apparent = sources[strong], apparent[strong]
    sx, sy = wcs.world_to_pixel(sources)
    folds = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]
    fx = np.concatenate([sx + i * padding * nx for i, _ in folds])
    fy = np.concatenate([sy + j * padding * ny for _, j in folds])
    fold_flux = np.tile(apparent, len(folds))
    x, y = wcs.world_to_pixel_values(out["ra_deg"].to_numpy(), out["dec_deg"].to_numpy())
    radius = limits.alias_radius_beams * header["BMAJ"] / abs(header["CDELT2"])
    near = np.hypot(x[:, None] - fx[None, :], y[:, None] - fy[None, :]) <= radius
    bright = fold_flux[None, :] >= limits.alias_flux_fraction * out["peak_jy_beam"].to_numpy(float)[:, None]
    out["aliased"] = (near & bright & np.isfinite(fx)[None, :]).any(axis=1)
    out["new_source"] = out["new_source"] & ~out["aliased"]
    return out


def _reached_by(sep_arcsec: np.ndarray, radius_arcsec: float, catalog: Catalog, beam_minor_arcsec: float) -> np.ndarray:
    """For each row of separations (detections x catalogue, arcsec), the catalogue source whose
    reach holds it (``radius_arcsec``, plus the major axis of a source the beam resolves), the
    nearest in units of reach; -1 where none reaches it."""
    reach = radius_arcsec + np.where(catalog.resolved(beam_minor_arcsec), catalog.major_arcsec, 0.0)
    nearest = np.argmin(sep_arcsec / reach[None, :], axis=1)
    inside = sep_arcsec[np.arange(len(sep_arcsec)), nearest] <= reach[nearest]
    return np.where(inside, nearest, -1)


def with_forced_fluxes(detections: pd.DataFrame, maps: forced.ImageMaps, header) -> pd.DataFrame:
    """The table's final columns (``COLUMNS``): ``cross_match``'s plus the forced (matched-filter)
    flux density and its error at each detection's position, a point source's flux whether
    aegean fitted its island with one component or several."""
    if detections.empty:
        return detections.assign(forced_flux_jy=[], forced_flux_err_jy=[])[COLUMNS]
    where = SkyCoord(detections["ra_deg"].to_numpy(), detections["dec_deg"].to_numpy(), unit="deg")
    measured = forced.fluxes_at(maps, *WCS(header).celestial.world_to_pixel(where))
    return detections.assign(
        forced_flux_jy=measured["flux_jy"].to_numpy(), forced_flux_err_jy=measured["flux_err_jy"].to_numpy()
    )[COLUMNS]
