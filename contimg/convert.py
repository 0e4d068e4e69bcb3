"""One group of 16 UVH5 subband files -> one flagged Measurement Set.

Each file is read once with h5py: its header (checked against the first file's), then
its visibilities, flags and sample counts straight into their place in one
frequency-ascending array. The data are flagged in memory (bad values,
autocorrelations, AOFlagger), phased from the correlator's per-integration meridian
centre to ONE phase centre (the meridian at the group's mid time at the pointing
declination, in ICRS) with pyuvdata's geometry, conjugated with uvw negated (the
convention of pyuvdata's MS writer) and written by `msio`. The MS appears under its
final name only when complete.
"""

from __future__ import annotations

import json
import mmap
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from . import flagging, geometry, msio, staging
from .layout import Layout

C_LIGHT = geometry.C_LIGHT


class ConversionError(ValueError):
    """A group that cannot be converted; the message names the file."""


@dataclass
class GroupHeader:
    """The first file's description of the group (all files must agree with it)."""

    time_jd: np.ndarray  # (n_blt,) time-major
    ant1: np.ndarray  # (n_blt,) station numbers
    ant2: np.ndarray
    n_freqs: int
    polarizations: np.ndarray
    integration_s: float
    pointing_dec_rad: float
    centre: dict  # the correlator's phase centre (pyuvdata catalogue entry)
    telescope_name: str


@dataclass
class GroupData:
    """A group's visibilities in one frequency-ascending array, with its header."""

    header: GroupHeader
    data: np.ndarray  # (n_blt, n_freq, n_pol) complex64
    flags: np.ndarray  # (n_blt, n_freq, n_pol) bool
    nsamples: np.ndarray | None  # (n_blt, n_freq, n_pol) float32, only if they vary along frequency
    row_nsamples: np.ndarray  # (n_blt, n_pol): the value of every channel when nsamples is None
    freqs_hz: np.ndarray  # (n_freq,) ascending
    widths_hz: np.ndarray  # (n_freq,)
    windows: list[slice]  # channel range of each subband file, lowest frequency first
    files: list[str]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_group_header(path: Path) -> GroupHeader:
    """The first file's header; any failure is reported with the file's name."""
    try:
        with h5py.File(path, "r") as handle:
            h = handle["Header"]
            ids = np.unique(h["phase_center_id_array"][()])
            if ids.size != 1:
                raise ValueError(f"{ids.size} phase centres where the correlator writes one")
            entry = h["phase_center_catalog"][str(int(ids[0]))]
            centre = {k: (None if entry[k].shape is None else entry[k][()]) for k in entry}
            header = GroupHeader(
                time_jd=h["time_array"][()],
                ant1=h["ant_1_array"][()],
                ant2=h["ant_2_array"][()],
                n_freqs=int(h["Nfreqs"][()]),
                polarizations=h["polarization_array"][()],
                integration_s=float(h["integration_time"][0]),
                pointing_dec_rad=float(h["extra_keywords/phase_center_dec"][()]),
                centre={k: (_text(v) if isinstance(v, bytes) else v) for k, v in centre.items()},
                telescope_name=_text(h["telescope_name"][()]),
            )
    except (OSError, KeyError, ValueError) as err:
        raise ConversionError(f"{path}: cannot read UVH5 header: {err}") from None
    return header


@dataclass
class FileHeader:
    """What the converter needs to know of each subband file (read with h5py, cheaply)."""

    path: Path
    freqs_hz: np.ndarray
    widths_hz: np.ndarray


def read_file_header(path: Path, ref: GroupHeader) -> FileHeader:
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
    if len(times) != len(ref.time_jd) or not np.allclose(times, ref.time_jd, atol=1e-8, rtol=0):
        problems.append("a different time grid")
    elif not (np.array_equal(ant1, ref.ant1) and np.array_equal(ant2, ref.ant2)):
        problems.append("different baselines")
    if not np.array_equal(pols, ref.polarizations):
        problems.append(f"polarisations {list(pols)}")
    if len(freqs) != ref.n_freqs:
        problems.append(f"{len(freqs)} channels where the group's first file has {ref.n_freqs}")
    if dec is None or not np.isclose(dec, ref.pointing_dec_rad, atol=1e-6):
        problems.append(f"pointing dec {dec} rad where the group's first file has {ref.pointing_dec_rad}")
    if problems:
        raise ConversionError(f"{path}: " + "; ".join(problems))
    return FileHeader(path, freqs, widths)


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
    """Worker: read the given files into their channel ranges of the shared arrays (re-phased).

    Sample counts that are the same in every channel of a row (the usual case) are kept
    per row only: the full array is then never touched (no page faults, nothing to write).
    """
    r = _READ
    data, flags, nsamples = r["arrays"]
    shape = (data.shape[0], len(r["headers"][indices[0]].freqs_hz), data.shape[2]) if indices else None
    buffers = [np.empty(shape, a.dtype) for a in r["arrays"]] if indices else []
    for k in indices:
        h, start = r["headers"][k], r["starts"][k]
        stop = start + len(h.freqs_hz)
        try:
            with h5py.File(h.path, "r") as handle:
                vis, flg, ns = (_read_into(handle, f"Data/{n}", h, b) for n, b in zip(("visdata", "flags", "nsamples"), buffers))
                if r["dw"] is not None:
                    rephase(vis, np.sort(h.freqs_hz), r["dw"])
                _channels(data)[:, start:stop] = _channels(vis)
                _channels(flags)[:, start:stop] = _channels(flg)
                r["row_nsamples"][k] = ns[:, 0, :]
                r["uniform"][k] = np.array_equal(ns, np.broadcast_to(ns[:, :1, :], ns.shape))
                if not r["uniform"][k]:
                    _channels(nsamples)[:, start:stop] = _channels(ns)
        except OSError as err:
            raise ConversionError(f"{h.path}: cannot read visibilities: {err}") from None


def read_group(paths: list[Path], ref: GroupHeader, workers: int = 1, dw: np.ndarray | None = None) -> GroupData:
    """Read 16 subband files (any order) into frequency-ascending arrays, each file once.

    ``workers`` forked processes share the files (HDF5 reads hold a global lock, so
    threads would not help); they write straight into shared memory, re-phasing each
    file by the per-row delta-w ``dw`` on the way when it is given.
    """
    headers = [read_file_header(p, ref) for p in paths]
    for h in headers:
        steps = np.diff(h.freqs_hz)
        if not (np.all(steps > 0) or np.all(steps < 0)):
            raise ConversionError(f"{h.path}: channel frequencies are not monotonic")
    headers.sort(key=lambda h: h.freqs_hz.min())
    starts = np.concatenate([[0], np.cumsum([len(h.freqs_hz) for h in headers])])
    n_blt, n_pol = len(ref.time_jd), len(ref.polarizations)
    shape = (n_blt, int(starts[-1]), n_pol)
    arrays = [_shared_empty(shape, np.complex64), _shared_empty(shape, bool), _shared_empty(shape, np.float32)]
    row_nsamples = _shared_empty((len(headers), n_blt, n_pol), np.float32)
    uniform = _shared_empty((len(headers),), bool)
    _READ.update(headers=headers, starts=starts, arrays=arrays, dw=dw, row_nsamples=row_nsamples, uniform=uniform)
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
    windows = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
    nsamples = arrays[2]
    if uniform.all() and all(np.array_equal(row, row_nsamples[0]) for row in row_nsamples):
        nsamples = None
    else:  # fill in the files whose counts were kept per row
        for k in np.flatnonzero(uniform):
            nsamples[:, windows[k]] = row_nsamples[k][:, None, :]
    return GroupData(ref, arrays[0], arrays[1], nsamples, np.array(row_nsamples[0]), freqs_hz, widths, windows,
                     [h.path.name for h in headers])  # fmt: skip


@dataclass
class Geometry:
    """Per-row quantities of the re-phasing, from the station layout (the authority)."""

    ra_rad: float  # the new phase centre, ICRS
    dec_rad: float
    jd_mid: float
    dw_m: np.ndarray  # (n_blt,) w towards the new centre minus w towards the correlator's
    uvw_m: np.ndarray  # (n_blt, 3) towards the new centre, u and v along ICRS east and north


def correlator_centre(centre: dict, jd: np.ndarray, lst: np.ndarray, site) -> tuple[np.ndarray, np.ndarray]:
    """Apparent RA/Dec per time of the phase centre the correlator used (a driftscan catalogue entry)."""
    import erfa

    kind = centre.get("cat_type")
    if kind == "unprojected" or (kind == "driftscan" and centre.get("cat_frame") == "altaz"):
        az, el = (0.0, np.pi / 2) if kind == "unprojected" else (float(centre["cat_lon"]), float(centre["cat_lat"]))
        ha, dec = erfa.ae2hd(az, el, site.lat.rad)
        return np.mod(ha + lst, 2 * np.pi), np.full(len(jd), dec)
    if kind == "sidereal" and centre.get("cat_frame") == "icrs":
        return geometry.apparent_radec(float(centre["cat_lon"]), float(centre["cat_lat"]), jd, site)
    raise ConversionError(f"unsupported correlator phase centre {centre.get('cat_type')}/{centre.get('cat_frame')}")


def rephasing_geometry(header: GroupHeader, layout: Layout) -> Geometry:
    """New centre (the meridian at mid time, ICRS), per-row delta-w and uvw, with pyuvdata's geometry."""
    site = layout.site
    times, t_index = np.unique(header.time_jd, return_inverse=True)
    jd_mid = float(times.mean())
    ra, dec = (float(x[0]) for x in geometry.meridian_icrs(jd_mid, header.pointing_dec_rad, site))
    stations = np.unique(np.concatenate([header.ant1, header.ant2]))
    rel = layout.relative_ecef[layout.index_of(stations)]
    lst = geometry.lst(times, site)
    old_ra, old_dec = correlator_centre(header.centre, times, lst, site)
    new_ra, new_dec = geometry.apparent_radec(ra, dec, times, site)
    frame_pa = geometry.frame_position_angle(times, new_ra, new_dec, site)
    w_old = geometry.antenna_uvw(rel, lst, old_ra, old_dec, site)[..., 2]  # (t, ant)
    uvw_new = geometry.antenna_uvw(rel, lst, new_ra, new_dec, site, frame_pa)  # (t, ant, 3)
    i1, i2 = np.searchsorted(stations, header.ant1), np.searchsorted(stations, header.ant2)
    uvw = uvw_new[t_index, i2] - uvw_new[t_index, i1]
    dw = uvw[:, 2] - (w_old[t_index, i2] - w_old[t_index, i1])
    return Geometry(ra, dec, jd_mid, dw, uvw)


def rephase(data: np.ndarray, freqs_hz: np.ndarray, dw_m: np.ndarray) -> None:
    """In place: data (rows, freqs, pols) *= exp(-2 pi i dw f / c), pyuvdata's sign convention.

    The delay is formed in turns (float64) and only its fractional part is kept (a
    rint, not np.mod: 20x faster), whose sine and cosine are taken in float32 (exact to
    ~1e-7 rad), one block of channels at a time.
    """
    turns_per_hz = dw_m / C_LIGHT
    block = 64
    phasor = np.empty((len(turns_per_hz), block), np.complex64)
    for start in range(0, len(freqs_hz), block):
        turns = np.outer(turns_per_hz, freqs_hz[start : start + block])
        phase = ((turns - np.rint(turns)) * (-2 * np.pi)).astype(np.float32)
        view = phasor[:, : phase.shape[1]]
        np.cos(phase, out=view.real)
        np.sin(phase, out=view.imag)
        data[:, start : start + block] *= view[:, :, None]


def convert_group(paths: list[Path], ms_path: Path, flags_json: Path, layout: Layout, conv_cfg: dict,
                  sefd_jy: float, name: str, dish_diameter_m: float = 4.65) -> dict:  # fmt: skip
    """Convert and flag one group; write ``ms_path`` and ``flags_json``. Returns the flag summary."""
    strategy_path = conv_cfg["aoflagger_strategy"]
    if ms_path.exists():
        raise FileExistsError(f"{ms_path} exists: a Measurement Set is written once and never overwritten")
    t0 = time.perf_counter()
    header = read_group_header(paths[0])
    geom = rephasing_geometry(header, layout)
    group = read_group(paths, header, conv_cfg["workers"], geom.dw_m)
    t_read = time.perf_counter()

    counts = flagging.FlagCounts(total=group.flags.size, input_flags=int(np.count_nonzero(group.flags)))
    counts.bad_values = flagging.flag_bad_values(group.data, group.flags)
    counts.autocorrelations = flagging.flag_autocorrelations(group.flags, header.ant1, header.ant2)
    if conv_cfg["aoflagger"]:
        counts.aoflagger = flagging.flag_rfi(group.data, group.flags, header.ant1, header.ant2,
                                             strategy_path, conv_cfg["workers"])  # fmt: skip
    t_flag = time.perf_counter()
    cross = header.ant1 != header.ant2
    if group.flags.all(axis=(1, 2))[cross].all():
        raise ConversionError(
            f"{paths[0].parent}: every cross-correlation of group {name} is flagged (input flags "
            f"{counts.input_flags}, bad values {counts.bad_values}, AOFlagger {counts.aoflagger} of {counts.total})"
        )

    # The MS holds pyuvdata's visibilities conjugated with uvw negated (its write_ms convention).
    np.conjugate(group.data, out=group.data)
    # WEIGHT_SPECTRUM = nsamples / sigma^2 with the radiometer equation's sigma; when
    # every channel of a row has the same weight, WEIGHT alone says it (no spectrum).
    channel_weight = (header.integration_s * 2 * group.widths_hz / sefd_jy**2).astype(np.float32)
    if group.nsamples is None and np.ptp(channel_weight) > 1e-6 * channel_weight.max():
        group.nsamples = np.broadcast_to(group.row_nsamples[:, None, :], group.data.shape).copy()
    if group.nsamples is not None:
        group.nsamples *= channel_weight[None, :, None]
    merged = conv_cfg["spectral_windows"] == "merged"
    first = int(layout.numbers.min())  # ANTENNA row = station number - 1: no blank rows for CASA
    content = msio.MSContent(
        data=group.data, flags=group.flags, weights=group.nsamples,
        row_weights=group.row_nsamples * channel_weight.mean(),
        ant1=header.ant1 - first, ant2=header.ant2 - first, time_jd=header.time_jd,
        interval_s=header.integration_s, uvw=-geom.uvw_m, freqs_hz=group.freqs_hz, widths_hz=group.widths_hz,
        windows=[slice(0, len(group.freqs_hz))] if merged else group.windows,
        polarizations=list(header.polarizations), field_name=name, ra_rad=geom.ra_rad, dec_rad=geom.dec_rad,
        history=(
            f"contimg.convert: group {name} from {len(paths)} files ({', '.join(group.files)}); "
            f"phased to the meridian at JD {geom.jd_mid:.6f}: ICRS RA {np.rad2deg(geom.ra_rad):.5f} "
            f"Dec {np.rad2deg(geom.dec_rad):.5f} deg; flagged: bad values, autocorrelations"
            + (f", AOFlagger strategy {Path(strategy_path).name}." if conv_cfg["aoflagger"] else ".")
        ),
    )  # fmt: skip
    t_phase = time.perf_counter()

    with staging.staged_directory(ms_path) as tmp:
        msio.write_ms(str(tmp), content, layout, header.telescope_name, dish_diameter_m)
        summary = flagging.flag_summary(group.flags, header.ant1, header.ant2,
                                        dict(zip(layout.numbers, layout.names)), group.freqs_hz, counts)  # fmt: skip
        summary["timing_s"] = {
            "read": round(t_read - t0, 2),
            "flag": round(t_flag - t_read, 2),
            "phase": round(t_phase - t_flag, 2),
            "write": round(time.perf_counter() - t_phase, 2),
        }
        summary["phase_centre_icrs_deg"] = [round(float(np.rad2deg(geom.ra_rad)), 6),
                                            round(float(np.rad2deg(geom.dec_rad)), 6)]  # fmt: skip
    flags_json.write_text(json.dumps(summary, indent=1))
    return summary
