"""A synthetic work area for benchmarking and testing the indexer at survey scale.

Groups 309 s apart in the inventory, each with an image (QA record and a FITS header with
1x1 pixels) and a forced-photometry table of ``rows_per_image`` sources out of a strip of
sky that drifts through the images, so every source has a light curve of many epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits
from astropy.time import Time

from .. import tables
from ..paths import Area

GROUP_S = 309.0
DEC_DEG = 54.5
AREA = Area()  # paths relative to the work area


def source_names(n: int) -> np.ndarray:
    return np.array([f"SYN J{k:07d}" for k in range(n)])


def write_work_area(
    work: Path, n_images: int, rows_per_image: int, n_sources: int, first_mjd: float = 61120.0, seed: int = 0
) -> None:
    """Write ``n_images`` groups' inventory rows, images and photometry under ``work``."""
    rng = np.random.default_rng(seed)
    mjd = first_mjd + np.arange(n_images) * GROUP_S / 86400.0
    obs = list(Time(mjd, format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S"))  # group ids
    tables.write_csv_atomic(
        pd.DataFrame(
            {
                "obs": obs,
                "status": "complete",
                "reason": "",
                "n_files": 16,
                "mjd_start": mjd - 0.0018,
                "mjd_mid": mjd,
                "mjd_end": mjd + 0.0018,
                "pointing_dec_deg": DEC_DEG,
            }
        ),
        work / AREA.inventory(),
    )
    names = source_names(n_sources)
    ra_all = np.arange(n_sources) * 360.0 / n_sources
    dec_all = DEC_DEG + rng.uniform(-1.5, 1.5, n_sources)
    step = max(1, n_sources // n_images)
    for path in (AREA.image(obs[0]), AREA.photometry(obs[0])):
        (work / path).parent.mkdir(parents=True, exist_ok=True)
    for k in range(n_images):
        idx = (k * step + np.arange(rows_per_image)) % n_sources
        flux = rng.lognormal(-3.0, 1.0, rows_per_image)
        err = np.full(rows_per_image, 0.001)
        pq.write_table(
            pa.table(
                {
                    "obs": [obs[k]] * rows_per_image,
                    "mjd": np.full(rows_per_image, mjd[k]),
                    "freq_hz": np.full(rows_per_image, 1.405e9),
                    "name": names[idx],
                    "ra_deg": ra_all[idx],
                    "dec_deg": dec_all[idx],
                    "x_pix": rng.uniform(0, 4096, rows_per_image),
                    "y_pix": rng.uniform(0, 4096, rows_per_image),
                    "pb": rng.uniform(0.1, 1, rows_per_image),
                    "catalog_flux_jy": flux,
                    "peak_jy_beam": flux,
                    "local_rms_jy": err,
                    "flux_jy": flux + rng.normal(0, 1e-3),
                    "flux_err_jy": err,
                    "snr": flux / err,
                    "flags": np.zeros(rows_per_image, np.int32),
                    "cutout": np.arange(rows_per_image),
                }
            ),
            work / AREA.photometry(obs[k]),
        )
        (work / AREA.photometry(obs[k], ".json")).write_text(
            json.dumps(
                {"obs": obs[k], "mjd": mjd[k], "measured": True, "image_verdict": "pass", "n_forced": rows_per_image}
            )
        )
        (work / AREA.image(obs[k], "-qa.json")).write_text(
            json.dumps(
                {
                    "obs": obs[k],
                    "mjd": mjd[k],
                    "ra_deg": float(ra_all[idx[0]]),
                    "dec_deg": DEC_DEG,
                    "rms_jy": 0.001,
                    "verdict": "pass",
                    "reasons": [],
                    "beam_arcsec": [64.0, 15.0],
                    "frequency_hz": 1.405e9,
                }
            )
        )
        header = fits.Header({"MJD-OBS": mjd[k], "CRVAL1": float(ra_all[idx[0]]), "CRVAL2": DEC_DEG})
        fits.PrimaryHDU(np.zeros((1, 1), np.float32), header).writeto(work / AREA.image(obs[k]))
