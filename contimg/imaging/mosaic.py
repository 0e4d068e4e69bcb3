"""Hourly mosaics: the passing images of consecutive groups co-added on a common grid.

Each primary-beam-corrected image (and its residual and weight) is resampled bilinearly onto
the part of the common grid it covers, as reproject_interp would, but through one pixel map
per image computed exactly on an 8-pixel lattice (`source_pixels`) instead of one full WCS
transform per array, and `cores` images at a time; weights are pb^2 / rms^2, the inverse
variance of the corrected image; the weight map's 1/sqrt is the mosaic's expected noise.
Which groups make an hour comes from the inventory (`naming.mosaic_names`), so the plan shows it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from scipy import ndimage

from contimg.imaging import qa

MAP_STEP = 8  # grid pixels between the points where an image's pixel map is computed exactly


def common_grid(headers: list, pb_cut_footprints: list[np.ndarray]) -> tuple[WCS, tuple[int, int]]:
    """A SIN grid at the images' finest pixel, centred between them, covering every footprint."""
    wcs_list = [WCS(h).celestial for h in headers]
    scale = min(abs(w.wcs.cdelt[1]) for w in wcs_list)
    corners = []
    for w, (ys, xs) in zip(wcs_list, pb_cut_footprints):
        corners.append(w.pixel_to_world(xs, ys))
    ra = np.concatenate([c.ra.deg for c in corners])
    dec = np.concatenate([c.dec.deg for c in corners])
    centre = SkyCoord(
        np.mean([w.wcs.crval[0] for w in wcs_list]), np.mean([w.wcs.crval[1] for w in wcs_list]), unit="deg"
    )
    grid = WCS(naxis=2)
    grid.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    grid.wcs.crval = [centre.ra.deg, centre.dec.deg]
    grid.wcs.cdelt = [-scale, scale]
    grid.wcs.crpix = [1, 1]
    x, y = grid.world_to_pixel(SkyCoord(ra, dec, unit="deg"))
    nx, ny = int(np.ceil(x.max() - x.min())) + 3, int(np.ceil(y.max() - y.min())) + 3
    grid.wcs.crpix = [1 - np.floor(x.min()) + 1, 1 - np.floor(y.min()) + 1]
    return grid, (ny, nx)


def _footprint(pb: np.ndarray, cut: float, step: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pixel coordinates of the points of the image where pb >= cut (subsampled)."""
    ys, xs = np.nonzero(pb[::step, ::step] >= cut)
    return ys * step, xs * step


def _box(src: WCS, shape_in: tuple[int, int], grid: WCS, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The part of ``grid`` (of ``shape``) an image of ``shape_in`` on ``src`` covers."""
    ny, nx = shape_in
    edge = np.array(
        [
            [0, 0],
            [0, ny - 1],
            [nx - 1, 0],
            [nx - 1, ny - 1],
            [nx // 2, 0],
            [nx // 2, ny - 1],
            [0, ny // 2],
            [nx - 1, ny // 2],
        ]
    )
    x, y = grid.world_to_pixel(src.pixel_to_world(edge[:, 0], edge[:, 1]))
    x0, x1 = max(0, int(np.floor(x.min()))), min(shape[1], int(np.ceil(x.max())) + 1)
    y0, y1 = max(0, int(np.floor(y.min()))), min(shape[0], int(np.ceil(y.max())) + 1)
    return slice(y0, y1), slice(x0, x1)


def source_pixels(src: WCS, grid: WCS, box: tuple[slice, slice]) -> np.ndarray:
    """(2, ny, nx): the (y, x) pixel of the image on ``src`` under every pixel of ``box`` of
    ``grid``: exact every `MAP_STEP` pixels and at the box's last row and column, bilinear in
    between (between two SIN grids the map is smooth: < 5e-5 pixel off at 8 pixels apart)."""
    rows, cols = (np.unique(np.r_[np.arange(s.start, s.stop, MAP_STEP), s.stop - 1]) for s in box)
    gx, gy = np.meshgrid(cols, rows)
    sx, sy = src.world_to_pixel_values(*grid.pixel_to_world_values(gx, gy))
    at = np.meshgrid(  # every box pixel in units of the exact points
        np.interp(np.arange(box[0].start, box[0].stop), rows, np.arange(len(rows))),
        np.interp(np.arange(box[1].start, box[1].stop), cols, np.arange(len(cols))),
        indexing="ij",
    )
    return np.stack([ndimage.map_coordinates(c, at, order=1) for c in (sy, sx)])


def resample(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``image`` at the pixel positions ``where`` (2, ...), bilinear; NaN beyond half a pixel
    outside it (as reproject_interp: the outer half of the border pixels takes their value)."""
    coords = where.copy()
    for axis, n in enumerate(image.shape):
        c = coords[axis]
        c[(c < 0) & (c >= -0.5)] = 0
        c[(c > n - 1) & (c < n - 0.5)] = n - 1
    values = ndimage.map_coordinates(np.asarray(image, dtype=float), coords, order=1, mode="constant", cval=np.nan)
    outside = np.zeros(values.shape, bool)
    for axis, n in enumerate(image.shape):
        outside |= (where[axis] < -0.5) | (where[axis] > n - 0.5)
    values[outside] = np.nan
    return values


def onto_grid(arrays: list[np.ndarray], header, grid: WCS, shape: tuple[int, int]):
    """``arrays`` (one image's planes on its header's grid) on the part of ``grid`` they
    cover, through one pixel map (`source_pixels`); and that part's slices."""
    src = WCS(header).celestial
    box = _box(src, arrays[0].shape, grid, shape)
    where = source_pixels(src, grid, box)
    return [resample(a, where) for a in arrays], box


def _weighted_parts(prefix: Path, header, pb: np.ndarray, rms: float, grid: WCS, shape, pb_cut: float):
    """One image's weight pb^2 / rms^2 and its weighted corrected image and residual on its
    part of ``grid``, and that part's slices."""
    w = np.where(pb >= pb_cut, pb**2 / rms**2, 0.0)
    image = fits.getdata(f"{prefix}-image-pb.fits")[0, 0]
    residual = fits.getdata(f"{prefix}-residual.fits")[0, 0] / np.where(pb >= pb_cut, pb, np.nan)
    (w_part, *parts), where = onto_grid([w, image, residual], header, grid, shape)
    w_part = np.nan_to_num(w_part)
    return where, w_part, [np.nan_to_num(w_part * part) for part in parts]


def marked_sources(qa_records: list[dict], photometry_records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the mosaic's picture marks: the catalogue sources the images' QA measured (ra_deg,
    dec_deg and their best snr, one row per name) and the groups' new-source candidates."""
    rows = pd.DataFrame(
        [s for r in qa_records for s in r.get("sources", [])], columns=["name", "ra_deg", "dec_deg", "snr"]
    )
    catalogue = rows.groupby("name", sort=True).agg({"ra_deg": "first", "dec_deg": "first", "snr": "max"})
    new = pd.DataFrame([s for r in photometry_records for s in r.get("new_sources", [])], columns=["ra_deg", "dec_deg"])
    return catalogue.reset_index(), new


def make_mosaic(
    image_prefixes: list[Path], out_prefix: Path, pb_cut: float, photometry_records: list[Path] = (), cores: int = 1
) -> dict:
    """Co-add the passing images among ``image_prefixes`` (images/{obs}); write ``out_prefix``.fits,
    -weight.fits, -residual.fits, .json and .png (a picture of the mosaic marking the catalogue
    sources and the new-source candidates of ``photometry_records``, photometry/{obs}.json);
    return the record (included, excluded with reasons). When no image passed, the mosaic is
    blank (NIMAGES = 0) and the record says why."""
    records = {p.name: json.loads(Path(f"{p}-qa.json").read_text()) for p in image_prefixes}
    included = [p for p in image_prefixes if records[p.name]["verdict"] == "pass"]
    excluded = [{"obs": p.name, "reasons": records[p.name]["reasons"]} for p in image_prefixes if p not in included]
    headers, pbs = [], []
    for p in included or image_prefixes:  # no passing image: an empty (all-blank) mosaic on their grid
        headers.append(fits.getheader(f"{p}-image-pb.fits"))
        pbs.append(fits.getdata(f"{p}-pb.fits")[0, 0])
    grid, shape = common_grid(headers, [_footprint(pb, pb_cut) for pb in pbs])
    total = {"image": np.zeros(shape), "residual": np.zeros(shape)}
    weight = np.zeros(shape)
    jobs = [(p, h, pb, records[p.name]["rms_jy"], grid, shape, pb_cut) for p, h, pb in zip(included, headers, pbs)]
    with ThreadPoolExecutor(max(1, cores)) as pool:  # nothing when no image passed
        for first in range(0, len(jobs), max(1, cores)):  # `cores` images in memory at a time, summed in order
            for where, w_part, (image, residual) in pool.map(
                lambda job: _weighted_parts(*job), jobs[first : first + cores]
            ):
                total["image"][where] += image
                total["residual"][where] += residual
                weight[where] += w_part
    covered = weight > 0
    noise = np.where(covered, 1.0 / np.sqrt(np.where(covered, weight, 1.0)), np.nan)
    mid = np.mean([h["MJD-OBS"] for h in headers]) if included else np.nan
    header = grid.to_header()
    header["BUNIT"] = "JY/BEAM"
    header["BMAJ"], header["BMIN"], header["BPA"] = (max(h[k] for h in headers) for k in ("BMAJ", "BMIN", "BPA"))
    header["MJD-OBS"] = (round(float(mid), 8) if included else None, "mean mid-time of the co-added groups")
    header["DATE-OBS"] = Time(mid, format="mjd", scale="utc").isot if included else ""
    header["NIMAGES"] = (len(included), "images co-added (weights pb^2 / rms^2)")
    best, median = (float(np.nanmin(noise)), float(np.nanmedian(noise))) if covered.any() else (None, None)
    header["EFFNOISE"] = (best, "Jy/beam: expected noise where the weight is largest")
    header["MEDNOISE"] = (median, "Jy/beam: median expected noise over the mosaic")
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    for suffix, data in (("", total["image"]), ("-residual", total["residual"])):
        mosaic = np.where(covered, data / np.where(covered, weight, 1.0), np.nan).astype(np.float32)
        fits.PrimaryHDU(mosaic, header).writeto(f"{out_prefix}{suffix}.fits", overwrite=True)
        if not suffix:
            catalogue, new = marked_sources(
                [records[p.name] for p in included], [json.loads(Path(r).read_text()) for r in photometry_records]
            )
            title = f"mosaic {out_prefix.name}: {len(included)} images"
            qa.thumbnail(mosaic, header, catalogue, title, f"{out_prefix}.png", new_sources=new)
    weight_header = header.copy()
    weight_header["BUNIT"] = "JY**-2"
    fits.PrimaryHDU(weight.astype(np.float32), weight_header).writeto(f"{out_prefix}-weight.fits", overwrite=True)
    record = {
        "mosaic": out_prefix.name,
        "included": [p.name for p in included],
        "excluded": excluded,
        "effective_noise_jy": header["EFFNOISE"],
        "median_noise_jy": header["MEDNOISE"],
        "shape": list(shape),
        "pixel_arcsec": 3600 * abs(grid.wcs.cdelt[1]),
    }
    Path(f"{out_prefix}.json").write_text(json.dumps(record, indent=1))
    return record
