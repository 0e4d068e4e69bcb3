"""The calibrator group's sky model: the calibrator and the catalogue's field sources in the
beam, predicted per integration and channel through the Airy beam into MODEL_DATA.

A calibrator-only model drags down the flux of the field (DESIGN.md): the field sources
above an apparent-flux limit are part of the model. The prediction is `contimg.predict`,
the same code that simulates the data, evaluated on the Measurement Set's own times,
baselines, channels and phase centre.
"""

from __future__ import annotations

from collections.abc import Iterator

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


def model_blocks(
    ms: table, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float, channel_block: int = 64
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, model visibilities) of each spectral window's rows of the open ``ms`` (rows
    grouped by spectral window, as contimg writes them): ``sources`` seen by dishes pointing
    at the meridian at ``pointing_dec_rad``, in the MS's data layout (rows, channels, correlations)."""
    site = layout.site
    name = ms.name()
    centre = phase_centre(name)
    with table(f"{name}/DATA_DESCRIPTION", ack=False) as dd:
        spw_of_ddid = dd.getcol("SPECTRAL_WINDOW_ID")
    with table(f"{name}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs_of_spw = [spw.getcell("CHAN_FREQ", k) for k in range(spw.nrows())]
    with table(f"{name}/POLARIZATION", ack=False) as pol:
        parallel = np.isin(pol.getcell("CORR_TYPE", 0), list(PARALLEL_HANDS))
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
    i1, i2 = np.searchsorted(rows_ant, a1), np.searchsorted(rows_ant, a2)
    for d in np.unique(ddid):
        rows = np.flatnonzero(ddid == d)
        if np.any(np.diff(rows) != 1):
            raise ValueError(f"{name}: rows of spectral window {d} are not contiguous")
        freqs = freqs_of_spw[spw_of_ddid[d]]
        model = np.zeros((len(rows), len(freqs), len(parallel)), np.complex64)
        for start in range(0, len(freqs), channel_block):
            f = freqs[start : start + channel_block]
            flux = predict.apparent_flux(sources.flux_at(f), geom, f, dish_m)
            vis = predict.visibilities(geom, flux, f)  # (t, f, a, b), pyuvdata's convention
            stokes_i = np.conj(vis[t_index[rows], :, i1[rows], i2[rows]])  # the MS convention
            model[:, start : start + len(f), parallel] = stokes_i[..., None]
        yield int(rows[0]), model


def write_model(ms_path: str, sources: Catalog, pointing_dec_rad: float, layout: Layout, dish_m: float) -> None:
    """Fill MODEL_DATA of ``ms_path`` with the visibilities of ``sources`` (`model_blocks`)."""
    with table(ms_path, readonly=False, ack=False) as ms:
        _add_model_column(ms)
        for first_row, model in model_blocks(ms, sources, pointing_dec_rad, layout, dish_m):
            ms.putcol("MODEL_DATA", model, startrow=first_row, nrow=len(model))
