"""Forced photometry on a full-size image with 10,000 catalogue positions.

Measured in the same process, single-threaded numpy (so per core):
  - ours: `contimg.photometry.forced` — the correlated-noise factor of the image, then the
    matched filter at every position at once (stacked cut-outs);
  - baseline: a beam-shaped Gaussian fitted at each position with scipy's least_squares
    (`contimg.imaging.qa.fit_at`, what the image QA does per source; per-source fitting is
    how source-by-source photometry is usually done), on a sample of the positions.
Also timed: BANE on the residual (the noise map both photometries use).

    .venv/bin/python bench/image_full.py --ms CALIBRATED.ms --keep /tmp/fullimage
    .venv/bin/python bench/photometry_full.py --image /tmp/fullimage/g [--n 10000]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from common import report
from contimg.imaging import qa
from contimg.imaging.restoring_beam import RestoringBeam
from contimg.photometry import blind, forced
from contimg.sky import Catalog

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--image", type=Path, required=True, help="image prefix: PREFIX-image.fits, -residual.fits, -pb.fits"
)
parser.add_argument("--n", type=int, default=10_000, help="catalogue positions")
parser.add_argument("--baseline-sample", type=int, default=300, help="positions fitted one by one")
args = parser.parse_args()
assert os.environ.get("OMP_NUM_THREADS") == "1", "run with OMP_NUM_THREADS=1 (per-core throughput)"

planes = {
    kind: np.asarray(fits.getdata(f"{args.image}-{kind}.fits")[0, 0], dtype=float)
    for kind in ("image", "residual", "pb")
}
header = fits.getheader(f"{args.image}-image.fits")
image, residual, pb = planes["image"], planes["residual"], planes["pb"]
rng = np.random.default_rng(1)
ys, xs = np.nonzero(pb >= 0.1)
pick = rng.choice(len(ys), args.n, replace=False)
ra, dec = WCS(header).celestial.pixel_to_world_values(
    xs[pick] + rng.uniform(-0.5, 0.5, args.n), ys[pick] + rng.uniform(-0.5, 0.5, args.n)
)
catalog = Catalog(
    pd.DataFrame(
        {
            "name": [f"P{k:05d}" for k in range(args.n)],
            "ra_deg": ra,
            "dec_deg": dec,
            "flux_jy": 0.01,
            "spectral_index": 0.0,
        }
    )
)

with tempfile.TemporaryDirectory() as scratch:
    start = time.perf_counter()
    bkg_path, rms_path = blind.background_maps(Path(f"{args.image}-residual.fits"), Path(scratch) / "b")
    t_bane = time.perf_counter() - start
    bkg, rms = (np.asarray(fits.getdata(p), dtype=float).reshape(image.shape) for p in (bkg_path, rms_path))

beam = RestoringBeam.from_header(header)
start = time.perf_counter()
factor = forced.correlated_noise_factor(residual, pb >= 0.1, beam)
maps = forced.ImageMaps(image - bkg, rms, pb, beam, factor)
rows = forced.measure(maps, header, catalog, 0.1, 0.0)
t_ours = time.perf_counter() - start

x, y = rows["x_pix"].to_numpy(), rows["y_pix"].to_numpy()
half = int(np.ceil(2.0 * beam.sigma_major)) + 2
sample = rng.choice(len(rows), min(args.baseline_sample, len(rows)), replace=False)
start = time.perf_counter()
for k in sample:
    qa.fit_at(image - bkg, x[k], y[k], beam, half)
t_base = time.perf_counter() - start

ours_rate = len(rows) / t_ours
base_rate = len(sample) / t_base
report(
    "photometry_full",
    {
        "image": str(args.image),
        "image_shape": list(image.shape),
        "positions": len(rows),
        "beam_sigma_pixels": [round(beam.sigma_major, 2), round(beam.sigma_minor, 2)],
        "bane_s": round(t_bane, 2),
        "ours_s": round(t_ours, 3),
        "ours_measurements_per_s_per_core": round(ours_rate),
        "baseline_fit_at_sample": len(sample),
        "baseline_s": round(t_base, 3),
        "baseline_measurements_per_s_per_core": round(base_rate, 1),
        "ours_over_baseline_throughput": round(ours_rate / base_rate, 1),
        "correlated_noise_factor": round(factor, 3),
    },
)
