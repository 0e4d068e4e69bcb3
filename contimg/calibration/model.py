"""The calibrator group's sky model: the calibrator and the catalogue's field sources in the
beam (points, or Gaussians where the catalogue gives a size), predicted per integration and
channel through the Airy beam into MODEL_DATA.

A calibrator-only model drags down the flux of the field (DESIGN.md): the field sources
above an apparent-flux limit are part of the model. The prediction is `contimg.predict`,
the same code that simulates the data, evaluated on the Measurement Set's own times,
baselines, channels and phase centre.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from casacore.tables import makecoldesc, maketabdesc, table

from .. import beam, geometry, predict
from ..layout import Layout
from ..sky import Catalog

SAME_SOURCE_ARCSEC = 10.0  # a field source this close to a calibrator is the calibrator
PARALLEL_HANDS = {5, 8, 9, 12}  # RR, LL, XX, YY in the Measurement Set's Stokes numbering


def select_sources(
    calibrators: Catalog,
    field: Catalog,
    centre_rad: tuple[float, float],
    freq_hz: float,
    dish_m: float,
    min_apparent_jy: float,
    radius_deg: float,
) -> pd.DataFrame:
    """Catalogue sources within ``radius_deg`` of the phase centre whose beam-attenuated flux
    at ``freq_hz`` is at least ``min_apparent_jy``, brightest first (calibrators win duplicates).

    Adds the columns offset_deg and apparent_jy.
    """
    both = pd.concat([calibrators.table.assign(role="calibrator"), field.table.assign(role="field")], ignore_index=True)
    ra, dec = np.deg2rad(both["ra_deg"].to_numpy(float)), np.deg2rad(both["dec_deg"].to_numpy(float))
    offset = geometry.angular_distance(ra, dec, *centre_rad)
    flux = Catalog(both).flux_at([freq_hz])[:, 0]
    both = both.assign(offset_deg=np.rad2deg(offset), apparent_jy=flux * beam.airy_power(offset, freq_hz, dish_m))
    keep = both[(both["offset_deg"] <= radius_deg) & (both["apparent_jy"] >= min_apparent_jy)]
    cal = keep[keep["role"] == "calibrator"]
    kept_field = keep[keep["role"] == "field"]
    if len(cal) and len(kept_field):
        dist = geometry.angular_distance(
            np.deg2rad(kept_field["ra_deg"].to_numpy(float))[:, None],
            np.deg2rad(kept_field["dec_deg"].to_numpy(float))[:, None],
            np.deg2rad(cal["ra_deg"].to_numpy(float))[None],
            np.deg2rad(cal["dec_deg"].to_numpy(float))[None],
        )
        kept_field = kept_field[np.rad2deg(dist.min(axis=1)) * 3600 > SAME_SOURCE_ARCSEC]
    return pd.concat([cal, kept_field]).sort_values("apparent_jy", ascending=False).reset_index(drop=True)


def phase_centre(ms: str) -> tuple[float, float]:
    """ICRS (RA, Dec) in radians of the Measurement Set's single field."""
    with table(f"{ms}/FIELD", ack=False) as field:
        if field.nrows() != 1:
            raise ValueError(f"{ms}: {field.nrows()} fields where one is expected")
        ra, dec = field.getcol("PHASE_DIR")[0, 0]
    return float(ra), float(dec)


def channel_frequencies(ms: str) -> np.ndarray:
    """Every channel's frequency (Hz) of every spectral window, ascending."""
    with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        return np.sort(np.concatenate([spw.getcell("CHAN_FREQ", k) for k in range(spw.nrows())]))


def mean_frequency(ms: str) -> float:
    return float(np.mean(channel_frequencies(ms)))


def _add_model_column(ms: table) -> None:
    if "MODEL_DATA" in ms.colnames():
        return
    desc = makecoldesc("MODEL_DATA", ms.getcoldesc("DATA"))
    desc["desc"]["comment"] = "Model visibilities (contimg.calibration.model)"
    ms.addcols(maketabdesc(desc), dminfo={"TYPE": "TiledShapeStMan", "NAME": "TiledModel", "SPEC": {}})


@dataclass(frozen=True)
class MSPrediction:
    """A source list's geometry on a Measurement Set's times and antennas, and where each of
    the MS's rows sits in it: what predicting the sources on the MS takes."""

    sources: Catalog
    geom: predict.SourceGeometry
    dish_m: float
    t_index: np.ndarray  # each row's integration (index into the geometry's times)
    i1: np.ndarray  # each row's antennas (indices into the geometry's antennas)
    i2: np.ndarray
    windows: tuple[tuple[int, int, np.ndarray], ...]  # (first row, rows, channel frequencies) per spectral window
    parallel: np.ndarray  # which correlations are parallel hands

    def _rows(self, first_row: int, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = slice(first_row, first_row + n_rows)
        return self.t_index[rows], self.i1[rows], self.i2[rows]

    def _apparent(self, freqs: np.ndarray) -> np.ndarray:
        return predict.apparent_flux(self.sources.flux_at(freqs), self.geom, freqs, self.dish_m)

    def stokes_i(self, first_row: int, n_rows: int, freqs: np.ndarray) -> np.ndarray:
        """(n_rows, n_chan) the sources' summed visibility (MS convention) on rows
        ``first_row`` on, at ``freqs``: the points' through one product per integration and
        channel, each Gaussian's per row."""
        apparent, shapes = self._apparent(freqs), self.sources.shapes_rad()
        gaussian = shapes[:, 0] > 0
        points = predict.visibilities(self.geom.select(~gaussian), apparent[:, ~gaussian], freqs)  # (t, f, a, b)
        t, a, b = self._rows(first_row, n_rows)
        vis = points[t, :, a, b]  # pyuvdata's convention
        for s in np.flatnonzero(gaussian):
            one = self.geom.select([s])
            vis += predict.baseline_visibilities(one, apparent[:, [s]], freqs, t, a, b, shapes[[s]])[0]
        return np.conj(vis)  # the MS convention

    def per_source(self, first_row: int, n_rows: int, freqs: np.ndarray) -> np.ndarray:
        """(n_src, n_rows, n_chan) each source's own visibility (MS convention)."""
        rows = self._rows(first_row, n_rows)
        apparent = self._apparent(freqs)
        return np.conj(predict.baseline_visibilities(self.geom, apparent, freqs, *rows, self.sources.shapes_rad()))

    def per_arcsec(self, first_row: int, n_rows: int, freqs: np.ndarray, visibilities: np.ndarray, which) -> np.ndarray:
        """(2 x n, n_rows, n_chan): how the visibilities of sources ``which`` (n of them; their
        `per_source` rows, ``visibilities``) change per arcsec east, then per arcsec north: the
        delay changes by the baseline's (u, v) times the offset (the beam's change over an
        arcsec, < 1e-4, is left out)."""
        t, a, b = self._rows(first_row, n_rows)
        uv = self.geom.uv_m[:, which]  # (n_int, n, n_ant, 2)
        d_uv = np.moveaxis(uv[t, :, b] - uv[t, :, a], 0, 1)  # (n, rows, 2)
        turn = (-2j * np.pi / geometry.C_LIGHT * np.deg2rad(1 / 3600.0)) * freqs  # MS convention: conj
        return np.concatenate([visibilities * (d_uv[..., k, None] * turn) for k in range(2)])


def parallel_hands(ms: str) -> np.ndarray:
    """Which of the Measurement Set's correlations are parallel hands (XX, YY, RR, LL)."""
    with table(f"{ms}/POLARIZATION", ack=False) as pol:
        return np.isin(pol.getcell("CORR_TYPE", 0), list(PARALLEL_HANDS))


def ms_prediction(ms: table, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float) -> MSPrediction:
    """``sources`` seen on the open ``ms`` (rows grouped by spectral window, as contimg writes
    them) by dishes pointing at the meridian at ``pointing_dec_rad``."""
    site = layout.site
    name = ms.name()
    centre = phase_centre(name)
    with table(f"{name}/DATA_DESCRIPTION", ack=False) as dd:
        spw_of_ddid = dd.getcol("SPECTRAL_WINDOW_ID")
    with table(f"{name}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs_of_spw = [spw.getcell("CHAN_FREQ", k) for k in range(spw.nrows())]
    parallel = parallel_hands(name)
    time_s, a1, a2, ddid = (ms.getcol(c) for c in ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID"))
    times, t_index = np.unique(time_s, return_inverse=True)
    jd = times / 86400.0 + 2400000.5
    rows_ant = np.unique(np.concatenate([a1, a2]))
    rel = layout.relative_ecef[rows_ant]  # layout row = ANTENNA row (`msio.ms_layout`)
    geom = predict.source_geometry(
        rel,
        jd,
        sources.ra_rad,
        sources.dec_rad,
        geometry.apparent_radec(*centre, jd, site),
        geometry.meridian_apparent(jd, pointing_dec_rad, site),
        site,
    )
    windows = []
    for d in np.unique(ddid):
        rows = np.flatnonzero(ddid == d)
        if np.any(np.diff(rows) != 1):
            raise ValueError(f"{name}: rows of spectral window {d} are not contiguous")
        windows.append((int(rows[0]), len(rows), freqs_of_spw[spw_of_ddid[d]]))
    i1, i2 = np.searchsorted(rows_ant, a1), np.searchsorted(rows_ant, a2)
    return MSPrediction(sources, geom, dish_m, t_index, i1, i2, tuple(windows), parallel)


def model_blocks(
    ms: table, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, channel_block: int = 64
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, model visibilities) of each spectral window's rows of the open ``ms``:
    `ms_prediction`'s sources in the MS's data layout (rows, channels, correlations)."""
    prediction = ms_prediction(ms, sources, pointing_dec_rad, layout, dish_m)
    for first_row, n_rows, freqs in prediction.windows:
        model = np.zeros((n_rows, len(freqs), len(prediction.parallel)), np.complex64)
        for start in range(0, len(freqs), channel_block):
            f = freqs[start : start + channel_block]
            model[:, start : start + len(f), prediction.parallel] = prediction.stokes_i(first_row, n_rows, f)[..., None]
        yield first_row, model


def write_model(ms_path: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float) -> None:
    """Fill MODEL_DATA of ``ms_path`` with the visibilities of ``sources`` (`model_blocks`)."""
    with table(ms_path, readonly=False, ack=False) as ms:
        _add_model_column(ms)
        for first_row, model in model_blocks(ms, sources, pointing_dec_rad, layout, dish_m):
            ms.putcol("MODEL_DATA", model, startrow=first_row, nrow=len(model))
