"""Hourly mosaics: the passing images of consecutive groups co-added on a common grid.

Each primary-beam-corrected image (and its residual) is reprojected (`reproject_interp`,
onto the part of the common grid it covers) and weighted by pb^2 / rms^2, the inverse
variance of the corrected image; the weight map's 1/sqrt is the mosaic's expected noise.
Which groups make an hour comes from the inventory (`naming.mosaic_names`), so the plan shows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from reproject import reproject_interp

from contimg.imaging import qa


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


def _reproject_into(
    data: np.ndarray, header, grid: WCS, shape: tuple[int, int]
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """``data`` on the part of ``grid`` it covers, and that part's slices."""
    src = WCS(header).celestial
    ny, nx = data.shape
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
    part, _ = reproject_interp((data, src), grid[y0:y1, x0:x1], shape_out=(y1 - y0, x1 - x0))
    return part, (slice(y0, y1), slice(x0, x1))


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
    image_prefixes: list[Path], out_prefix: Path, pb_cut: float, photometry_records: list[Path] = ()
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
    for p, header, pb in zip(included, headers, pbs):  # nothing when no image passed
        rms = records[p.name]["rms_jy"]
        w = np.where(pb >= pb_cut, pb**2 / rms**2, 0.0)
        w_part, where = _reproject_into(w, header, grid, shape)
        w_part = np.nan_to_num(w_part)
        corrected = {
            "image": fits.getdata(f"{p}-image-pb.fits")[0, 0],
            "residual": fits.getdata(f"{p}-residual.fits")[0, 0] / np.where(pb >= pb_cut, pb, np.nan),
        }
        for kind in total:
            part, _ = _reproject_into(corrected[kind], header, grid, shape)
            total[kind][where] += np.nan_to_num(w_part * part)
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
