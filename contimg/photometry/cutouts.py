"""Cut-outs: what one epoch's image shows around each of its sources, as a product a person or
the browser can look at (``photometry/{obs}-cutouts.png``).

One PNG per group, a sheet of ``TILE`` x ``TILE`` pixel tiles, ``COLUMNS`` to a row: tile ``i``
shows the image around the row whose ``cutout`` column is ``i`` in the group's photometry
tables (every forced measurement, then every new-source candidate; -1: no tile). A tile holds
``TILE - 1`` image pixels a side (about 12 beams at 5 pixels per beam; a white line parts the
tiles), centred on the pixel nearest the position, north up and east left as the image's own
pixels lie, not resampled. Stretch as the thumbnails' (`picture.noise_stretch` with the rms
map's value at the position) up to a given top, for a catalogue source twice its catalogue
flux as the image shows it there (x pb): its tiles then compare from epoch to epoch (a
source at its catalogue flux is mid-grey, twice as bright is black); for a new source, its
tile's peak. Sources dark on a light ground, pale blue beyond the image's edge, four red
ticks pointing at the centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..imaging.picture import noise_stretch

COLUMN = "cutout"
TILE = 64
COLUMNS = 16
OFF_IMAGE = (205, 225, 255)
TICK = (220, 30, 30)
TICK_LENGTH = 6
SEPARATOR = (255, 255, 255)


def tile_origin(index: int) -> tuple[int, int]:
    """(x, y) of tile ``index``'s top-left corner on its sheet, in PNG pixels."""
    return (index % COLUMNS) * TILE, (index // COLUMNS) * TILE


def _window(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """The (TILE-1)^2 pixels of ``image`` centred on column x, row y; NaN beyond its edge."""
    half = (TILE - 1) // 2
    out = np.full((TILE - 1, TILE - 1), np.nan)
    rows = slice(max(0, y - half), min(image.shape[0], y + half + 1))
    cols = slice(max(0, x - half), min(image.shape[1], x + half + 1))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[rows.start - (y - half) : rows.stop - (y - half), cols.start - (x - half) : cols.stop - (x - half)] = image[
            rows, cols
        ]
    return out


def tile(image: np.ndarray, rms: np.ndarray, x: float, y: float, top: float | None = None) -> np.ndarray:
    """The RGB tile (uint8, north up) of ``image`` around pixel (x, y), 0-based FITS order,
    black from ``top`` (default: the tile's peak)."""
    cx, cy = int(np.rint(x)), int(np.rint(y))
    data = _window(image, cx, cy)
    inside = 0 <= cy < rms.shape[0] and 0 <= cx < rms.shape[1]
    stretch = noise_stretch(data, rms[cy, cx] if inside else None, top)
    shown = np.clip(np.nan_to_num(np.ma.filled(stretch(data), np.nan)), 0, 1)
    grey = np.rint(255 * (1 - shown)).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    rgb[~np.isfinite(data)] = OFF_IMAGE
    rgb = rgb[::-1]  # FITS rows run south to north, PNG rows top to bottom
    centre = (TILE - 1) // 2
    for part in (slice(0, TICK_LENGTH), slice(TILE - 1 - TICK_LENGTH, TILE - 1)):
        rgb[centre, part] = TICK
        rgb[part, centre] = TICK
    out = np.empty((TILE, TILE, 3), np.uint8)
    out[:] = SEPARATOR
    out[: TILE - 1, : TILE - 1] = rgb
    return out


def sheet(
    image: np.ndarray, rms: np.ndarray, x: np.ndarray, y: np.ndarray, top: np.ndarray | None = None
) -> np.ndarray:
    """The RGB sheet of one tile per position (x[i], y[i]) in order, black from top[i] (NaN or
    no ``top``: the tile's peak); one blank tile if no position."""
    n = len(x)
    tops = np.full(n, np.nan) if top is None else np.asarray(top, dtype=float)
    rows, columns = max(1, -(-n // COLUMNS)), max(1, min(n, COLUMNS))
    out = np.empty((rows * TILE, columns * TILE, 3), np.uint8)
    out[:] = OFF_IMAGE
    for i in range(n):
        left, top_edge = tile_origin(i)
        out[top_edge : top_edge + TILE, left : left + TILE] = tile(image, rms, x[i], y[i], tops[i])
    return out


def write(path: Path, image: np.ndarray, rms: np.ndarray, x, y, top=None) -> None:
    """The sheet of ``image`` around the positions (x[i], y[i]) as a PNG at ``path`` (`sheet`)."""
    Image.fromarray(sheet(image, rms, np.asarray(x), np.asarray(y), top), "RGB").save(path, format="PNG")
