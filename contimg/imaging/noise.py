"""Imaging weights as WSClean computes them (Briggs, on the image's uv grid), and what they
predict before WSClean runs: the thermal noise of the image (`briggs_noise`) and its point
spread function (`contimg.imaging.psf`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from casacore.tables import table

from ..geometry import C_LIGHT


class UVSamples:
    """The unflagged cross-correlation samples of a Measurement Set, folded onto the u >= 0 half
    plane (the image is real); ``time_step`` > 1 keeps every so-many-th integration only (uv
    tracks move little in one integration: a cheap and faithful thinning)."""

    def __init__(self, ms: str, time_step: int = 1):
        with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
            self.freqs = [spw.getcell("CHAN_FREQ", k) for k in range(spw.nrows())]
        with table(f"{ms}/DATA_DESCRIPTION", ack=False) as dd:
            self.spw_of_ddid = dd.getcol("SPECTRAL_WINDOW_ID")
        with table(ms, ack=False) as main:
            time_index = np.unique(main.getcol("TIME"), return_inverse=True)[1]
            keep = (main.getcol("ANTENNA1") != main.getcol("ANTENNA2")) & (time_index % time_step == 0)
            self.uvw, self.ddid = main.getcol("UVW")[keep], main.getcol("DATA_DESC_ID")[keep]
            self.flags, self.weight = main.getcol("FLAG")[keep], main.getcol("WEIGHT")[keep]
        used = ~self.flags.all(axis=(1, 2))
        top = max(float(np.max(f)) for f in self.freqs)
        self.uv_max = float(np.hypot(self.uvw[used, 0], self.uvw[used, 1]).max(initial=0.0)) * top / C_LIGHT

    def blocks(self, channel_block: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(u, v, natural weight) of the samples, a block of channels at a time: u, v in
        wavelengths, the weight the summed WEIGHT of the unflagged parallel hands."""
        for d in np.unique(self.ddid):
            rows = self.ddid == d
            f = self.freqs[self.spw_of_ddid[d]]
            for start in range(0, len(f), channel_block):
                chans = slice(start, start + channel_block)
                w = np.where(self.flags[rows, chans], 0.0, self.weight[rows][:, None, :]).sum(axis=2)
                u = self.uvw[rows, 0, None] * f[None, chans] / C_LIGHT
                v = self.uvw[rows, 1, None] * f[None, chans] / C_LIGHT
                flip, good = u < 0, w > 0
                yield np.where(flip, -u, u)[good], np.where(flip, -v, v)[good], w[good]


@dataclass
class Weights:
    """Every sample's natural and Briggs imaging weight (and its u, v when asked for)."""

    natural: np.ndarray
    imaging: np.ndarray
    u: np.ndarray | None = None
    v: np.ndarray | None = None


def briggs_weights(samples: UVSamples, cell: float, robust: float, keep_uv: bool = False) -> Weights:
    """WSClean's Briggs ``robust`` weights: with W the natural weight gridded on cells of ``cell``
    wavelengths and f^2 = (5 10^-R)^2 / (sum W^2 / sum w), a sample's imaging weight is
    w / (1 + W f^2). Unchanged when every uv track is thinned alike (W and sum w scale together)."""
    extent = int(samples.uv_max / cell) + 2
    cells, natural, us, vs = [], [], [], []
    for u, v, w in samples.blocks():
        cells.append(
            np.rint(u / cell).astype(np.int64) * (2 * extent + 1) + np.rint(v / cell).astype(np.int64) + extent
        )
        natural.append(w)
        if keep_uv:
            us.append(u.astype(np.float32))
            vs.append(v.astype(np.float32))
    flat = np.concatenate(cells) if cells else np.zeros(0, np.int64)
    w = np.concatenate(natural) if natural else np.zeros(0)
    gridded = np.bincount(flat, weights=w)  # the half-plane grid, flat (no sort: 30 s -> a few)
    f2 = (5.0 * 10 ** (-robust)) ** 2 / (np.sum(gridded**2) / np.sum(w))
    imaging = w / (1.0 + gridded[flat] * f2)
    return Weights(w, imaging, np.concatenate(us) if keep_uv else None, np.concatenate(vs) if keep_uv else None)


def uv_cell(size: int, scale_arcsec: float) -> float:
    """The uv grid's cell (wavelengths) of an image of ``size`` pixels of ``scale_arcsec``."""
    return 1.0 / (size * math.radians(scale_arcsec / 3600.0))


def briggs_noise(ms: str, size: int, scale_arcsec: float, robust: float) -> float:
    """Expected rms (Jy/beam) of a Stokes I MFS image of ``ms`` with Briggs ``robust`` weighting:
    the radiometer noise of every sample (1 / its natural weight) through the imaging weights
    w': sqrt(sum w'^2 / w) / sum w'."""
    weights = briggs_weights(UVSamples(ms), uv_cell(size, scale_arcsec), robust)
    return float(np.sqrt(np.sum(weights.imaging**2 / weights.natural)) / np.sum(weights.imaging))
