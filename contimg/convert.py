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
import mmap
import multiprocessing
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


@dataclass
class FileHeader:
    """What the converter needs to know of each subband file (read with h5py, cheaply)."""

    path: Path
    freqs_hz: np.ndarray
    widths_hz: np.ndarray
    n_blts: int
    n_pols: int


def read_file_header(path: Path, ref: UVData) -> FileHeader:
    """Check a subband file against the first file's grid; name the file on any mismatch."""
    problems = []
    try:
        with h5py.File(path, "r") as handle:
            h = handle["Header"]
            times, ant1, ant2 = h["time_array"][()], h["ant_1_array"][()], h["ant_2_array"][()]
            freqs = h["freq_array"][()].ravel()
            widths = np.broadcast_to(h["channel_width"][()], freqs.shape).astype(float)
            pols = h["polarization_array"][()]
            dec = h["extra_keywords/phase_center_dec"][()] if "phase_center_dec" in h.get("extra_keywords", {}) else None
    except (OSError, KeyError) as err:
        raise ConversionError(f"{path}: cannot read UVH5 header: {err}") from None
    if len(times) != ref.Nblts or not np.allclose(times, ref.time_array, atol=1e-8, rtol=0):
        problems.append("a different time grid")
    elif not (np.array_equal(ant1, ref.ant_1_array) and np.array_equal(ant2, ref.ant_2_array)):
        problems.append("different baselines")
    if not np.array_equal(pols, ref.polarization_array):
        problems.append(f"polarisations {list(pols)}")
    if len(freqs) != ref.Nfreqs:
        problems.append(f"{len(freqs)} channels where the group's first file has {ref.Nfreqs}")
    if dec is None or not np.isclose(dec, ref.extra_keywords["phase_center_dec"], atol=1e-6):
        problems.append(f"pointing dec {dec} rad where the group's first file has {ref.extra_keywords['phase_center_dec']}")
    if problems:
        raise ConversionError(f"{path}: " + "; ".join(problems))
    return FileHeader(path, freqs, widths, len(times), len(pols))


def _read_into(handle: h5py.File, name: str, header: FileHeader, buffer: np.ndarray) -> np.ndarray:
    """Read one data set whole into ``buffer``; return it with channels ascending (a view)."""
    dset = handle.get(name)
    if dset is None or dset.shape != buffer.shape:
        got = None if dset is None else dset.shape
        raise ConversionError(f"{header.path}: {name} missing or of shape {got}, expected {buffer.shape}")
    if dset.dtype.names:  # compound (r, i) storage of complex data
        raw = dset[()]
        buffer[...] = raw["r"] + 1j * raw["i"]
    else:
        dset.read_direct(buffer)
    descending = header.freqs_hz[0] > header.freqs_hz[-1]
    return buffer[:, ::-1] if descending else buffer


def _channels(array: np.ndarray) -> np.ndarray:
    """(rows, channels) view whose elements are all polarisations of one channel.

    Copying channel blocks (reversed) through this view moves 16-byte elements instead
    of one polarisation at a time: 7x faster for a full-size group.
    """
    return array.view(f"V{array.itemsize * array.shape[2]}")[..., 0]


def _shared_empty(shape: tuple, dtype) -> np.ndarray:
    """An array in anonymous shared memory: forked workers fill it for the parent.

    Asks for transparent huge pages: first-touch page faults of a full-size group's
    2.2 GB otherwise cost seconds of kernel time.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = mmap.mmap(-1, max(size, 1))
    if hasattr(mmap, "MADV_HUGEPAGE"):
        buffer.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(buffer, dtype, count=int(np.prod(shape))).reshape(shape)


_READ: dict = {}  # what the forked readers share with the parent


def _read_files(indices: list[int]) -> None:
    """Worker: read the given files into their channel ranges of the shared arrays."""
    headers, starts, arrays = _READ["headers"], _READ["starts"], _READ["arrays"]
    shape = (arrays[0].shape[0], len(headers[indices[0]].freqs_hz), arrays[0].shape[2]) if indices else None
    buffers = [np.empty(shape, a.dtype) for a in arrays] if indices else []
    for k in indices:
        h, start = headers[k], starts[k]
        stop = start + len(h.freqs_hz)
        try:
            with h5py.File(h.path, "r") as handle:
                for name, out, buffer in zip(("visdata", "flags", "nsamples"), arrays, buffers):
                    _channels(out)[:, start:stop] = _channels(_read_into(handle, f"Data/{name}", h, buffer))
        except OSError as err:
            raise ConversionError(f"{h.path}: cannot read visibilities: {err}") from None


def read_group(paths: list[Path], workers: int = 1) -> GroupData:
    """Read 16 subband files (any order) into frequency-ascending arrays, each file once.

    ``workers`` forked processes share the files (HDF5 reads hold a global lock, so
    threads would not help); they write straight into shared memory.
    """
    ref = read_metadata(paths[0])
    headers = [read_file_header(p, ref) for p in paths]
    for h in headers:
        steps = np.diff(h.freqs_hz)
        if not (np.all(steps > 0) or np.all(steps < 0)):
            raise ConversionError(f"{h.path}: channel frequencies are not monotonic")
    headers.sort(key=lambda h: h.freqs_hz.min())
    starts = np.concatenate([[0], np.cumsum([len(h.freqs_hz) for h in headers])])
    shape = (ref.Nblts, int(starts[-1]), ref.Npols)
    arrays = [_shared_empty(shape, np.complex64), _shared_empty(shape, bool), _shared_empty(shape, np.float32)]
    _READ.update(headers=headers, starts=starts, arrays=arrays)
    chunks = [list(range(len(headers)))[i::workers] for i in range(workers)]
    try:
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                pool.map(_read_files, chunks)
        else:
            _read_files(chunks[0])
    finally:
        _READ.clear()
    freqs_hz = np.concatenate([np.sort(h.freqs_hz) for h in headers])
    if np.any(np.diff(freqs_hz) <= 0):
        raise ConversionError(f"{paths[0].parent}: subband frequencies overlap or repeat")
    widths = np.concatenate([h.widths_hz[np.argsort(h.freqs_hz)] for h in headers])
    spw = np.concatenate([np.full(len(h.freqs_hz), k) for k, h in enumerate(headers)])
    return GroupData(ref, *arrays, freqs_hz, widths, spw, [h.path.name for h in headers])


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
    # MS antenna ids are ANTENNA row numbers: renumber from 0 (DSA-001 -> 0), or the
    # writer leaves blank ANTENNA rows that break CASA tools.
    first = int(meta.telescope.antenna_numbers.min())
    telescope = meta.telescope.copy()
    telescope.antenna_numbers = telescope.antenna_numbers - first
    pairs = list(zip(meta.ant_1_array[: meta.Nbls] - first, meta.ant_2_array[: meta.Nbls] - first))
    merged = spw_layout == "merged"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = UVData.new(
            freq_array=group.freqs_hz,
            polarization_array=meta.polarization_array,
            times=times,
            telescope=telescope,
            antpairs=pairs,
            do_blt_outer=True,
            time_axis_faster_than_bls=False,
            integration_time=meta.integration_time[0],
            channel_width=group.widths_hz,
            flex_spw_id_array=None if merged else group.spw_of_channel,
            phase_center_catalog={0: {"cat_name": name, "cat_type": "sidereal", "cat_lon": ra, "cat_lat": dec,
                                      "cat_frame": "icrs"}},  # fmt: skip
            phase_center_id_array=np.zeros(meta.Nblts, int),
            vis_units="uncalib",
        )
    if not (np.array_equal(out.ant_1_array + first, meta.ant_1_array)
            and np.array_equal(out.ant_2_array + first, meta.ant_2_array)):  # fmt: skip
        raise ConversionError("baseline-time order of the files is not time-major with a fixed baseline order")
    return out


def baseline_uvw(out: UVData, layout: Layout) -> np.ndarray:
    """(n_blt, 3) uvw (ant2 - ant1) towards the phase centre, u and v along ICRS east and north.

    As pyuvdata's, but with the frame position angle taken at the phase centre itself
    (geometry.frame_position_angle): agrees with astropy to a fraction of a millimetre.
    """
    times, first, t_index = np.unique(out.time_array, return_index=True, return_inverse=True)
    app_ra, app_dec, lst = out.phase_center_app_ra[first], out.phase_center_app_dec[first], out.lst_array[first]
    frame_pa = geometry.frame_position_angle(times, app_ra, app_dec, layout.site)
    rel = out.telescope.antenna_positions
    ant = geometry.antenna_uvw(rel, lst, app_ra, app_dec, layout.site, frame_pa)  # (t, ant, 3)
    row = {int(n): i for i, n in enumerate(out.telescope.antenna_numbers)}
    i1 = np.fromiter((row[a] for a in out.ant_1_array), int, out.Nblts)
    i2 = np.fromiter((row[a] for a in out.ant_2_array), int, out.Nblts)
    return ant[t_index, i2] - ant[t_index, i1]


def rephase(group: GroupData, w_old: np.ndarray, w_new: np.ndarray) -> None:
    """In place: V *= exp(-2 pi i (w_new - w_old) f / c), pyuvdata's sign convention.

    The delay is formed in turns (float64) and only its fractional part is kept (a
    rint, not np.mod: 20x faster), whose sine and cosine are taken in float32 (exact to
    ~1e-7 rad), one block of channels at a time.
    """
    turns_per_hz = (w_new - w_old) / C_LIGHT
    block = 64
    phasor = np.empty((len(turns_per_hz), block), np.complex64)
    for start in range(0, len(group.freqs_hz), block):
        turns = np.outer(turns_per_hz, group.freqs_hz[start : start + block])
        phase = ((turns - np.rint(turns)) * (-2 * np.pi)).astype(np.float32)
        view = phasor[:, : phase.shape[1]]
        np.cos(phase, out=view.real)
        np.sin(phase, out=view.imag)
        group.data[:, start : start + block] *= view[:, :, None]


def convert_group(paths: list[Path], ms_path: Path, flags_json: Path, layout: Layout, conv_cfg: dict,
                  sefd_jy: float, name: str) -> dict:  # fmt: skip
    """Convert and flag one group; write ``ms_path`` and ``flags_json``. Returns the flag summary."""
    strategy_path = conv_cfg["aoflagger_strategy"]
    if ms_path.exists():
        raise FileExistsError(f"{ms_path} exists: a Measurement Set is written once and never overwritten")
    t0 = time.perf_counter()
    group = read_group(paths, conv_cfg["workers"])
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
    out.uvw_array = baseline_uvw(out, layout)
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
            # The MS convention is pyuvdata's conjugated, with uvw negated: done in place
            # here instead of on a 1.4 GB copy inside write_ms.
            np.conjugate(out.data_array, out=out.data_array)
            out.uvw_array = -out.uvw_array
            out.write_ms(str(tmp), run_check=False, flip_conj=False)
            _drop_data_unit(tmp)
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


def _drop_data_unit(ms_path: Path) -> None:
    """pyuvdata labels uncalibrated DATA with the unit 'uncalib', which casacore's TaQL (and
    every tool that queries the MS with it) rejects as an illegal unit: claim no unit instead."""
    from casacore.tables import table

    with table(str(ms_path), readonly=False, ack=False) as ms:
        if "QuantumUnits" in ms.getcolkeywords("DATA"):
            ms.removecolkeyword("DATA", "QuantumUnits")
