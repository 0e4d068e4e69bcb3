"""Write a Measurement Set from arrays already in memory; read back its stations.

The main table is written with python-casacore in a few large `putcol` calls; the
subtables with pyuvdata's MS utilities (the ones its own `write_ms` uses), given
explicit values instead of a UVData object. Compared with `UVData.write_ms` this skips
a median over every visibility's weight and the copies of the data it makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.coordinates import EarthLocation
from casacore.tables import table

from .layout import Layout, ecef_to_enu


@dataclass
class MSContent:
    """Everything one Measurement Set holds, arrays in MS conventions already.

    ``data`` is (rows, channels, pols) in the MS sign convention; ``windows`` lists the
    channel slice of each spectral window (rows are repeated per window, window-major).
    """

    data: np.ndarray  # complex64
    flags: np.ndarray  # bool
    weights: np.ndarray | None  # float32 WEIGHT_SPECTRUM; None: every channel of a row weighs the same
    row_weights: np.ndarray  # (rows, pols) WEIGHT when ``weights`` is None
    ant1: np.ndarray  # ANTENNA table rows
    ant2: np.ndarray
    time_jd: np.ndarray  # per row, mid-integration, UTC
    interval_s: float
    uvw: np.ndarray  # (rows, 3) metres
    freqs_hz: np.ndarray
    widths_hz: np.ndarray
    windows: list[slice]
    polarizations: list[int]  # pyuvdata numbers, CASA order (XX, YY)
    field_name: str
    ra_rad: float
    dec_rad: float
    history: str


def _channel_mean(values: np.ndarray) -> np.ndarray:
    """(rows, pols) mean over channels of (rows, channels, pols), as one matrix product
    (numpy's reduction over the middle axis is 10x slower)."""
    n_rows, n_chan, n_pol = values.shape
    averaging = np.tile(np.eye(n_pol, dtype=values.dtype), (n_chan, 1)) / n_chan
    return np.ascontiguousarray(values).reshape(n_rows, n_chan * n_pol) @ averaging


def write_ms(path: str, content: MSContent, layout: Layout, telescope_name: str, dish_diameter_m: float) -> None:
    """Create ``path`` (which must not exist) holding ``content``; antenna i is layout station i."""
    from pyuvdata.utils.io import ms as ms_utils

    c = content
    n_rows = len(c.ant1)
    time_s = (c.time_jd - 2400000.5) * 86400.0
    ms = ms_utils.init_ms_file(path)
    try:
        if c.weights is None:
            ms.removecols("WEIGHT_SPECTRUM")  # CASA and WSClean then use WEIGHT for every channel
        ms.addrows(n_rows * len(c.windows))
        for k, chans in enumerate(c.windows):
            start = k * n_rows
            row_weight = c.row_weights if c.weights is None else _channel_mean(c.weights[:, chans])
            if c.weights is not None:
                ms.putcol("WEIGHT_SPECTRUM", c.weights[:, chans], startrow=start, nrow=n_rows)
            for column, values in (
                ("DATA", c.data[:, chans]),
                ("FLAG", c.flags[:, chans]),
                ("WEIGHT", row_weight),
                ("SIGMA", np.power(row_weight, -0.5, where=row_weight > 0, out=np.zeros_like(row_weight))),
                ("ANTENNA1", c.ant1),
                ("ANTENNA2", c.ant2),
                ("TIME", time_s),
                ("TIME_CENTROID", time_s),
                ("INTERVAL", np.full(n_rows, c.interval_s)),
                ("EXPOSURE", np.full(n_rows, c.interval_s)),
                ("UVW", c.uvw),
                ("DATA_DESC_ID", np.full(n_rows, k, np.int32)),
                ("SCAN_NUMBER", np.ones(n_rows, np.int32)),
                ("FIELD_ID", np.zeros(n_rows, np.int32)),
            ):
                ms.putcol(column, values, startrow=start, nrow=n_rows)
    finally:
        ms.done()

    site = layout.site
    site_xyz = np.array([site.x.value, site.y.value, site.z.value])
    numbers = np.arange(len(layout.names))
    t_mid = float(np.median(time_s))
    catalog = {
        0: {
            "cat_name": c.field_name,
            "cat_type": "sidereal",
            "cat_lon": c.ra_rad,
            "cat_lat": c.dec_rad,
            "cat_frame": "icrs",
            "cat_epoch": 2000.0,
            "cat_times": None,
            "cat_pm_ra": None,
            "cat_pm_dec": None,
            "cat_dist": None,
            "cat_vrad": None,
            "info_source": "contimg",
            "cat_id": 0,
        },
    }
    spw_of_channel = np.concatenate([np.full(len(c.freqs_hz[w]), k) for k, w in enumerate(c.windows)])
    ms_utils.write_ms_antenna(
        path,
        antenna_numbers=numbers,
        antenna_names=list(layout.names),
        antenna_positions=layout.relative_ecef,
        antenna_diameters=np.full(len(numbers), dish_diameter_m),
        antenna_mount=["alt-az"] * len(numbers),
        telescope_location=site_xyz,
        telescope_frame="itrs",
        telescope_ellipsoid=None,
    )
    ms_utils.write_ms_data_description(path, nspws=len(c.windows), flex_spw_polarization_array=None)
    ms_utils.write_ms_feed(
        path,
        nfeeds=2,
        nspws=len(c.windows),
        feed_array=np.tile(["x", "y"], (len(numbers), 1)),
        feed_angle=np.tile([np.pi / 2, 0.0], (len(numbers), 1)),
        antenna_numbers=numbers,
        time_val=t_mid,
    )
    ms_utils.write_ms_field(path, phase_center_catalog=catalog, time_val=t_mid)
    ms_utils.write_ms_source(path, phase_center_catalog=catalog, time_default=t_mid)
    ms_utils.write_ms_history(path, history=c.history)
    ms_utils.write_ms_observation(
        path, telescope_name=telescope_name, telescope_location=site_xyz, observer=telescope_name
    )
    ms_utils.write_ms_pointing(
        path, max_ant=len(numbers) - 1, integration_time=np.full(n_rows, c.interval_s), time_array=c.time_jd
    )
    ms_utils.write_ms_polarization(
        path, pol_order=slice(None), polarization_array=np.asarray(c.polarizations), flex_pol=False
    )
    ms_utils.write_ms_spectral_window(
        path,
        freq_array=c.freqs_hz,
        channel_width=c.widths_hz,
        spw_array=np.arange(len(c.windows)),
        id_array=spw_of_channel,
    )


def ms_layout(ms: str, site: EarthLocation) -> Layout:
    """The stations of a Measurement Set's ANTENNA table (row k = antenna k), as written by
    the conversion from the station layout: later stages need no station table of their own."""
    with table(f"{ms}/ANTENNA", ack=False) as ant:
        names, ecef = list(ant.getcol("NAME")), ant.getcol("POSITION")
    return Layout(names, ecef_to_enu(ecef, site), site, f"{ms}/ANTENNA")
