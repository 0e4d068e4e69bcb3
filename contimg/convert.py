"""One group of 16 UVH5 subband files -> one flagged Measurement Set.

Each file is read once: its metadata with pyuvdata (``read_data=False``), its
visibilities, flags and sample counts with h5py straight into their place in one
frequency-ascending array. The data are flagged in memory (bad values,
autocorrelations, AOFlagger), phased from the correlator's per-integration meridian
centre to ONE phase centre (the meridian at the group's mid time at the pointing
declination, in ICRS) with pyuvdata's geometry, and written with pyuvdata's MS writer
(which stores the conjugate with uvw negated: the MS sign convention). The MS appears
under its final name only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from pyuvdata import UVData

from . import flagging, geometry
from .layout import Layout

C_LIGHT = geometry.C_LIGHT


class ConversionError(ValueError):
    """A group that cannot be converted; the message names the file."""


@dataclass
class GroupData:
    """A group's visibilities in one frequency-ascending array, with its metadata."""

    meta: UVData  # metadata of the first file (times, baselines, telescope, phase centre)
    data: np.ndarray  # (n_blt, n_freq, n_pol) complex64
    flags: np.ndarray  # (n_blt, n_freq, n_pol) bool
    nsamples: np.ndarray  # (n_blt, n_freq, n_pol) float32
    freqs_hz: np.ndarray  # (n_freq,) ascending
    widths_hz: np.ndarray  # (n_freq,)
    spw_of_channel: np.ndarray  # (n_freq,) index of the subband file (0 = lowest frequency)
    files: list[str]


def read_metadata(path: Path) -> UVData:
    """pyuvdata metadata of one file; any failure is reported with the file's name."""
    meta = UVData()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta.read(str(path), file_type="uvh5", read_data=False, run_check=False)
    except Exception as err:  # noqa: BLE001 - any reader failure means an unusable file
        raise ConversionError(f"{path}: cannot read UVH5 header: {err}") from None
    meta.uvw_array = np.asarray(meta.uvw_array, dtype=np.float64)  # production files store float32
    return meta


def _check_same_grid(path: Path, meta: UVData, ref: UVData, ref_path: Path) -> None:
    """Every subband must share times, baselines, polarisations and pointing."""
    problems = []
    if meta.Nblts != ref.Nblts or not np.allclose(meta.time_array, ref.time_array, atol=1e-8, rtol=0):
        problems.append("a different time grid")
    elif not (np.array_equal(meta.ant_1_array, ref.ant_1_array) and np.array_equal(meta.ant_2_array, ref.ant_2_array)):
        problems.append("different baselines")
    if not np.array_equal(meta.polarization_array, ref.polarization_array):
        problems.append(f"polarisations {list(meta.polarization_array)}")
    if meta.Nfreqs != ref.Nfreqs:
        problems.append(f"{meta.Nfreqs} channels where {ref_path.name} has {ref.Nfreqs}")
    dec, ref_dec = meta.extra_keywords.get("phase_center_dec"), ref.extra_keywords.get("phase_center_dec")
    if dec is None or not np.isclose(dec, ref_dec, atol=1e-6):
        problems.append(f"pointing dec {dec} rad where {ref_path.name} has {ref_dec}")
    if problems:
        raise ConversionError(f"{path}: " + "; ".join(problems))


def _read_dataset(handle: h5py.File, name: str, path: Path, shape: tuple) -> np.ndarray:
    dset = handle.get(name)
    if dset is None or dset.shape != shape:
        raise ConversionError(f"{path}: {name} missing or of shape {None if dset is None else dset.shape}, expected {shape}")
    values = dset[()]
    if values.dtype.names:  # compound (r, i) storage of complex data
        values = values["r"] + 1j * values["i"]
    return values


def read_group(paths: list[Path]) -> GroupData:
    """Read 16 subband files (any order) into frequency-ascending arrays, each file once."""
    metas = [read_metadata(p) for p in paths]
    for path, meta in zip(paths[1:], metas[1:]):
        _check_same_grid(path, meta, metas[0], paths[0])
    order = np.argsort([m.freq_array.min() for m in metas])
    ref = metas[0]
    n_freq = sum(m.Nfreqs for m in metas)
    shape = (ref.Nblts, n_freq, ref.Npols)
    data = np.empty(shape, np.complex64)
    flags = np.empty(shape, bool)
    nsamples = np.empty(shape, np.float32)
    freqs, widths, spw = [], [], []
    start = 0
    for k, i in enumerate(order):
        meta, path = metas[i], paths[i]
        rev = np.argsort(meta.freq_array)  # channels descend inside a file
        stop = start + meta.Nfreqs
        file_shape = (ref.Nblts, meta.Nfreqs, ref.Npols)
        try:
            with h5py.File(path, "r") as handle:
                data[:, start:stop] = _read_dataset(handle, "Data/visdata", path, file_shape)[:, rev]
                flags[:, start:stop] = _read_dataset(handle, "Data/flags", path, file_shape)[:, rev]
                nsamples[:, start:stop] = _read_dataset(handle, "Data/nsamples", path, file_shape)[:, rev]
        except OSError as err:
            raise ConversionError(f"{path}: cannot read visibilities: {err}") from None
        freqs.append(meta.freq_array[rev])
        widths.append(np.broadcast_to(meta.channel_width, meta.freq_array.shape)[rev])
        spw.append(np.full(meta.Nfreqs, k))
        start = stop
    freqs_hz = np.concatenate(freqs)
    if np.any(np.diff(freqs_hz) <= 0):
        raise ConversionError(f"{paths[0].parent}: subband frequencies overlap or repeat")
    return GroupData(ref, data, flags, nsamples, freqs_hz, np.concatenate(widths), np.concatenate(spw),
                     [paths[i].name for i in order])  # fmt: skip


def _with_layout_positions(meta: UVData, layout: Layout) -> None:
    """The station layout is the authority for antenna positions (file positions may be stale)."""
    idx = layout.index_of(meta.telescope.antenna_numbers)
    meta.telescope.antenna_positions = layout.relative_ecef[idx]


def phase_centre(meta: UVData, site) -> tuple[float, float, float]:
    """ICRS (ra, dec) of the meridian at the group's mid time at the pointing dec; and that JD."""
    jd_mid = float(np.mean(np.unique(meta.time_array)))
    ra, dec = geometry.meridian_icrs(jd_mid, float(meta.extra_keywords["phase_center_dec"]), site)
    return float(ra[0]), float(dec[0]), jd_mid


def output_uvdata(group: GroupData, ra: float, dec: float, name: str, spw_layout: str) -> UVData:
    """A UVData of the whole group phased to (ra, dec); pyuvdata computes the uvw (ICRS frame)."""
    meta = group.meta
    n_t = meta.Ntimes
    times = meta.time_array.reshape(n_t, -1)[:, 0]
    pairs = list(zip(meta.ant_1_array[: meta.Nbls], meta.ant_2_array[: meta.Nbls]))
    merged = spw_layout == "merged"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = UVData.new(
            freq_array=group.freqs_hz,
            polarization_array=meta.polarization_array,
            times=times,
            telescope=meta.telescope,
            antpairs=pairs,
            do_blt_outer=True,
            time_axis_faster_than_bls=False,
            integration_time=meta.integration_time[0],
            channel_width=group.widths_hz,
            flex_spw_id_array=None if merged else group.spw_of_channel,
            phase_center_catalog={0: {"cat_name": name, "cat_type": "sidereal", "cat_lon": ra, "cat_lat": dec,
                                      "cat_frame": "icrs"}},  # fmt: skip
            phase_center_id_array=np.zeros(meta.Nblts, int),
            empty=True,
            vis_units="uncalib",
        )
    if not (np.array_equal(out.ant_1_array, meta.ant_1_array) and np.array_equal(out.ant_2_array, meta.ant_2_array)):
        raise ConversionError("baseline-time order of the files is not time-major with a fixed baseline order")
    return out


def rephase(group: GroupData, w_old: np.ndarray, w_new: np.ndarray) -> None:
    """In place: V *= exp(-2 pi i (w_new - w_old) f / c), pyuvdata's sign convention."""
    dw = (w_new - w_old) * (-2 * np.pi / C_LIGHT)
    block = 64
    for start in range(0, len(group.freqs_hz), block):
        f = group.freqs_hz[start : start + block]
        group.data[:, start : start + block] *= np.exp(1j * np.outer(dw, f)).astype(np.complex64)[:, :, None]


def convert_group(paths: list[Path], ms_path: Path, flags_json: Path, layout: Layout, conv_cfg: dict,
                  sefd_jy: float, name: str) -> dict:  # fmt: skip
    """Convert and flag one group; write ``ms_path`` and ``flags_json``. Returns the flag summary."""
    strategy_path = conv_cfg["aoflagger_strategy"]
    t0 = time.perf_counter()
    group = read_group(paths)
    meta = group.meta
    _with_layout_positions(meta, layout)
    t_read = time.perf_counter()

    counts = flagging.FlagCounts(total=group.flags.size, input_flags=int(np.count_nonzero(group.flags)))
    counts.bad_values = flagging.flag_bad_values(group.data, group.flags)
    counts.autocorrelations = flagging.flag_autocorrelations(group.flags, meta.ant_1_array, meta.ant_2_array)
    if conv_cfg["aoflagger"]:
        counts.aoflagger = flagging.flag_rfi(group.data, group.flags, meta.ant_1_array, meta.ant_2_array,
                                             strategy_path, conv_cfg["workers"])  # fmt: skip
    t_flag = time.perf_counter()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta._set_app_coords_helper()  # the correlator's centre, from the file's catalogue
        meta.set_uvws_from_antenna_positions(update_vis=False)
    ra, dec, jd_mid = phase_centre(meta, layout.site)
    out = output_uvdata(group, ra, dec, name, conv_cfg["spectral_windows"])
    rephase(group, meta.uvw_array[:, 2], out.uvw_array[:, 2])
    # pyuvdata writes WEIGHT_SPECTRUM = nsamples, WEIGHT = its median, SIGMA = WEIGHT^-1/2:
    # scaling by 1/sigma^2 of the radiometer equation makes all three mean what they say.
    sigma = sefd_jy / np.sqrt(2 * group.widths_hz * meta.integration_time[0])
    group.nsamples *= (sigma**-2).astype(np.float32)[None, :, None]
    out.data_array, out.flag_array, out.nsample_array = group.data, group.flags, group.nsamples
    out.history = (
        f"contimg.convert: group {name} from {len(paths)} files ({', '.join(group.files)}); "
        f"phased to the meridian at JD {jd_mid:.6f}: ICRS RA {np.rad2deg(ra):.5f} Dec {np.rad2deg(dec):.5f} deg; "
        f"flagged: bad values, autocorrelations, AOFlagger strategy {Path(strategy_path).name}."
    )
    t_phase = time.perf_counter()

    tmp = ms_path.with_name(f".{ms_path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.write_ms(str(tmp), run_check=False, flip_conj=True)
        summary = flagging.flag_summary(
            group.flags, meta.ant_1_array, meta.ant_2_array,
            dict(zip(meta.telescope.antenna_numbers, meta.telescope.antenna_names)), group.freqs_hz, counts,
        )  # fmt: skip
        summary["timing_s"] = {
            "read": round(t_read - t0, 2),
            "flag": round(t_flag - t_read, 2),
            "phase": round(t_phase - t_flag, 2),
            "write": round(time.perf_counter() - t_phase, 2),
        }
        summary["phase_centre_icrs_deg"] = [round(float(np.rad2deg(ra)), 6), round(float(np.rad2deg(dec)), 6)]
        os.replace(tmp, ms_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    flags_json.write_text(json.dumps(summary, indent=1))
    return summary
