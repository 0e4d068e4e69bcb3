"""The thermal noise an image should have: the radiometer noise of every unflagged
visibility (its WEIGHT, from the SEFD) through the imaging weights (Briggs, as WSClean
computes them on the image's uv grid)."""

from __future__ import annotations

import math

import numpy as np
from casacore.tables import table

from ..geometry import C_LIGHT


def briggs_noise(ms: str, size: int, scale_arcsec: float, robust: float, channel_block: int = 64) -> float:
    """Expected rms (Jy/beam) of a Stokes I MFS image of ``ms`` with Briggs ``robust`` weighting.

    Each (row, channel) point carries the summed WEIGHT of its unflagged parallel hands; the
    uv grid has cells 1 / (size x scale) (points folded onto one half plane, as the image is
    real). With W the gridded natural weight and f^2 = (5 10^-R)^2 / (sum W^2 / sum w), a
    point's imaging weight is w / (1 + W f^2), and the rms is sqrt(sum w'^2/w) / sum w'.
    """
    cell = 1.0 / (size * math.radians(scale_arcsec / 3600.0))
    with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs = [spw.getcell("CHAN_FREQ", k) for k in range(spw.nrows())]
    with table(f"{ms}/DATA_DESCRIPTION", ack=False) as dd:
        spw_of_ddid = dd.getcol("SPECTRAL_WINDOW_ID")
    with table(ms, ack=False) as main:
        cross = main.getcol("ANTENNA1") != main.getcol("ANTENNA2")
        uvw, ddid = main.getcol("UVW")[cross], main.getcol("DATA_DESC_ID")[cross]
        flags, weight = main.getcol("FLAG")[cross], main.getcol("WEIGHT")[cross]
    cells, weights = [], []
    for d in np.unique(ddid):
        rows = ddid == d
        f = freqs[spw_of_ddid[d]]
        for start in range(0, len(f), channel_block):
            chans = slice(start, start + channel_block)
            w = np.where(flags[rows, chans], 0.0, weight[rows][:, None, :]).sum(axis=2)  # (rows, chans)
            u = uvw[rows, 0, None] * f[None, chans] / C_LIGHT
            v = uvw[rows, 1, None] * f[None, chans] / C_LIGHT
            flip = u < 0
            iu = np.rint(np.where(flip, -u, u) / cell).astype(np.int64)
            iv = np.rint(np.where(flip, -v, v) / cell).astype(np.int64) + size
            keep = w > 0
            cells.append(iu[keep] * (2 * size + 1) + iv[keep])
            weights.append(w[keep])
    cells, weights = np.concatenate(cells), np.concatenate(weights)
    gridded = np.bincount(cells, weights=weights)  # the half-plane grid, flat (no sort: 30 s -> a few)
    f2 = (5.0 * 10 ** (-robust)) ** 2 / (np.sum(gridded**2) / np.sum(weights))
    factor = 1.0 / (1.0 + gridded[cells] * f2)
    return float(np.sqrt(np.sum(weights * factor**2)) / np.sum(weights * factor))
