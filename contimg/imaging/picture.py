"""Pictures of images (each group's thumbnail, the hourly mosaic) that show the sources above
the noise.

- The canvas is the part of the image that holds data (the bounding box of its finite
  pixels): an hour's mosaic is a strip along RA, which used to sit in a mostly blank square.
- Pixels are averaged in blocks rather than picked every k-th: a point source a few pixels
  across could fall between the picked pixels and show as a single dot.
- The stretch is asinh with its linear part at the noise (robust rms): from -3 sigma to the
  peak, the noise a visible grey, sources black however bright.
"""

from __future__ import annotations

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize

from .qa import robust_rms


def covered(image: np.ndarray) -> tuple[slice, slice]:
    """(rows, columns) of the smallest box holding every finite pixel (the whole image if none)."""
    finite = np.isfinite(image)
    if not finite.any():
        return slice(0, image.shape[0]), slice(0, image.shape[1])
    rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def block_mean(image: np.ndarray, step: int) -> np.ndarray:
    """The mean of each ``step`` x ``step`` block (NaN where a block holds no finite pixel);
    the last partial row and column of blocks are dropped."""
    if step == 1:
        return image.astype(float)
    ny, nx = (n // step for n in image.shape)
    blocks = image[: ny * step, : nx * step].astype(float).reshape(ny, step, nx, step)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _positive(value: float | None) -> bool:
    return value is not None and bool(np.isfinite(value)) and value > 0


def noise_stretch(shown: np.ndarray, rms: float | None = None, top: float | None = None) -> ImageNormalize:
    """asinh from -3 sigma to ``top`` (default the peak; at least 10 sigma), linear over the
    noise (which then spans about a fifth of the grey scale); sigma is ``rms`` if given and
    positive, else the robust rms of ``shown``."""
    finite = shown[np.isfinite(shown)]
    if not finite.size:
        return ImageNormalize(vmin=0.0, vmax=1.0)
    if not _positive(rms):
        rms = robust_rms(finite) or float(np.std(finite)) or 1.0
    vmin, vmax = -3 * rms, max(top if _positive(top) else float(finite.max()), 10 * rms)
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(a=min(1.0, rms / (vmax - vmin))))
