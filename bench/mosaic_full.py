"""The hourly mosaic of 12 full-size images (4096^2 pixels of 6.8", one every 5 minutes of RA
at declination +54.5: what a full-size hour gives the mosaic rule).

Measured in the same run, each in a fresh process (wall time and peak memory):
  - ours: `contimg.imaging.mosaic.make_mosaic` on both cores (one pixel map per image,
    `cores` images at a time);
  - baseline: the same co-add with each of an image's three arrays (weight, image, residual)
    reprojected by `reproject_interp` onto the common grid one image after another, as the
    mosaic rule did before (contimg 0.1 to the end of 2026-12).
Goal (issue 26): ours <= 60 s and <= 8 GiB, mosaic, residual and weight equal to the
baseline's within 1e-4 of their peaks. Exits 1 when a goal is missed.

    .venv/bin/python bench/mosaic_full.py [--images 12] [--keep DIR]
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from common import report, timed_child

SIZE, PIXEL_DEG, DEC = 4096, 6.8 / 3600, 54.5
STEP_DEG = 360 / 24 / 12  # the sky drifts 1.25 deg of RA past the meridian in 5 minutes
GOAL_S, GOAL_GIB, GOAL_CLOSE = 60.0, 8.0, 1e-4
PB_CUT = 0.1  # imaging.pb_cut


def header(k: int) -> fits.Header:
    """A WSClean-like header of image k (SIN, RA advancing by STEP_DEG per image)."""
    w = WCS(naxis=4)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    w.wcs.crval = [140.0 + k * STEP_DEG, DEC, 1.405e9, 1]
    w.wcs.cdelt = [-PIXEL_DEG, PIXEL_DEG, 1.875e8, 1]
    w.wcs.crpix = [SIZE / 2 + 1, SIZE / 2 + 1, 1, 1]
    h = w.to_header()
    h.update(BMAJ=51 / 3600, BMIN=34 / 3600, BPA=0.0, MJD_OBS=61120.2 + k * 5 / 1440, BUNIT="JY/BEAM")
    h["MJD-OBS"] = h.pop("MJD_OBS")
    return h


def write_images(out: Path, n: int) -> list[Path]:
    """n images (image-pb, pb, residual, qa.json) of point sources in noise under a Gaussian beam."""
    rng = np.random.default_rng(26)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    r2 = ((xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2) * PIXEL_DEG**2
    pb = np.exp(-r2 / (2 * 1.4**2)).astype(np.float32)  # a 3.3-deg FWHM beam
    prefixes = []
    for k in range(n):
        prefix = out / f"g{k:02d}"
        noise = rng.normal(0, 1e-3, (SIZE, SIZE)).astype(np.float32)
        image = noise.copy()
        for x, y, flux in zip(
            rng.uniform(100, SIZE - 100, 40), rng.uniform(100, SIZE - 100, 40), rng.uniform(0.01, 1, 40)
        ):
            box = (slice(int(y) - 12, int(y) + 13), slice(int(x) - 12, int(x) + 13))
            image[box] += flux * pb[int(y), int(x)] * np.exp(-((xx[box] - x) ** 2 + (yy[box] - y) ** 2) / (2 * 2.0**2))
        h = header(k)
        for suffix, data in (("-image-pb", image / np.maximum(pb, 1e-3)), ("-pb", pb), ("-residual", noise)):
            fits.PrimaryHDU(data.astype(np.float32)[None, None], h).writeto(f"{prefix}{suffix}.fits", overwrite=True)
        record = {"obs": prefix.name, "verdict": "pass", "reasons": [], "rms_jy": 1e-3, "sources": []}
        Path(f"{prefix}-qa.json").write_text(json.dumps(record))
        prefixes.append(prefix)
    return prefixes


BASELINE = """
from reproject import reproject_interp
from astropy.wcs import WCS
from contimg.imaging import mosaic
def onto_grid(arrays, header, grid, shape):  # the rule before: one full reprojection per array
    src = WCS(header).celestial
    box = mosaic._box(src, arrays[0].shape, grid, shape)
    part = grid[box[0], box[1]]
    return [reproject_interp((a, src), part, shape_out=(box[0].stop - box[0].start, box[1].stop - box[1].start))[0] for a in arrays], box
mosaic.onto_grid = onto_grid
"""


def run(prefixes: list[Path], out: Path, cores: int, baseline: bool) -> dict:
    code = (BASELINE if baseline else "from contimg.imaging import mosaic\n") + (
        "from pathlib import Path\n"
        f"prefixes = [Path(p) for p in {[str(p) for p in prefixes]!r}]\n"
        f"mosaic.make_mosaic(prefixes, Path({str(out)!r}), {PB_CUT}, [], {cores})\n"
    )
    return timed_child(code)


def closeness(ours: Path, base: Path) -> dict:
    """max |ours - baseline| / max |baseline| of each of the mosaic's arrays."""
    found = {}
    for suffix in ("", "-residual", "-weight"):
        a, b = (fits.getdata(f"{p}{suffix}.fits").astype(float) for p in (ours, base))
        same_blank = bool((np.isnan(a) == np.isnan(b)).all())
        found[suffix or "image"] = {
            "max_difference_over_peak": float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b))),
            "blank_pixels_agree": same_blank,
        }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="keep the images and mosaics in this directory")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mosaic_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    prefixes = write_images(work, args.images)
    ours = run(prefixes, work / "ours", 2, baseline=False)
    base = run(prefixes, work / "baseline", 1, baseline=True)
    close = closeness(work / "ours", work / "baseline")
    worst = max(c["max_difference_over_peak"] for c in close.values())
    result = {
        "images": args.images,
        "image_pixels": SIZE,
        "ours": ours,
        "baseline_reproject_interp": base,
        "speedup": round(base["wall_s"] / ours["wall_s"], 2),
        "closeness": close,
        "goals": {"wall_s": GOAL_S, "peak_rss_gib": GOAL_GIB, "max_difference_over_peak": GOAL_CLOSE},
    }
    met = ours["wall_s"] <= GOAL_S and ours["peak_rss_gib"] <= GOAL_GIB and worst <= GOAL_CLOSE
    report("mosaic_full", result)
    if not args.keep:
        shutil.rmtree(work)
    print(
        f"mosaic of {args.images} full-size images: ours {ours['wall_s']} s, {ours['peak_rss_gib']} GiB; "
        f"baseline {base['wall_s']} s ({result['speedup']}x); worst difference {worst:.1e} of the peak; "
        f"goals {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
