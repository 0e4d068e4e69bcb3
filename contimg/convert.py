"""One group of 16 UVH5 subband files -> one flagged Measurement Set.

Each file is read once with h5py: its header (antennas identified by NAME in the station
layout, whatever their numbers; rows put in one canonical order and orientation, parallel
hands kept, whatever legal form the writer chose: `uvh5`; checked against the first
file's), then its visibilities, flags and sample counts straight into their place in one
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

from . import flagging, geometry, msio, staging, uvh5
from .layout import Layout

C_LIGHT = geometry.C_LIGHT
TELESCOPE = "DSA-110"  # the MS's telescope (casa_setup registers it); files may say otherwise ('OVRO_MMA')


class ConversionError(ValueError):
    """A group that cannot be converted; the message names the file."""


@dataclass
class FileRows:
    """How one file's rows and polarisations map onto the group's canonical order."""

    order: np.ndarray | None  # file row of each canonical row (None: the file is in that order)
    conjugate: np.ndarray | None  # file rows stored as (ant2, ant1), conjugated on reading (None: none)
    pols: np.ndarray | None  # index in the file of XX and YY (None: the file holds exactly these)


@dataclass
class GroupHeader:
    """The first file's description of the group, rows in canonical order: time-major, then
    by antenna, each baseline as (ant1, ant2) with ant1 <= ant2 in the station layout."""

    time_jd: np.ndarray  # (n_blt,)
    ant1: np.ndarray  # (n_blt,) rows of the station layout (= ANTENNA rows of the MS)
    ant2: np.ndarray
    n_freqs: int
    polarizations: np.ndarray  # the parallel hands kept: XX, YY
    integration_s: float
    pointing_dec_rad: float
    centres: dict  # {id: the correlator's phase centre (pyuvdata catalogue entry)}
    centre_ids: np.ndarray  # (n_blt,) phase centre of each row
    telescope_name: str
    rows: FileRows


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


def canonical_rows(h: h5py.Group, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, FileRows]:
    """(time, ant1, ant2) in canonical order and how the file's rows map onto it; antennas are
    identified by name (`uvh5.row_stations`) and looked up in the station layout."""
    times, a1, a2 = h["time_array"][()], h["ant_1_array"][()], h["ant_2_array"][()]
    names1, names2 = uvh5.row_stations(h, a1, a2)
    used = np.unique(np.concatenate([names1, names2]))
    rows_of = dict(zip(used, layout.rows_of(list(used))))
    r1 = np.array([rows_of[n] for n in names1])
    r2 = np.array([rows_of[n] for n in names2])
    swap = r1 > r2
    r1, r2 = np.where(swap, r2, r1), np.where(swap, r1, r2)
    order = np.lexsort((r2, r1, times))
    identity = np.array_equal(order, np.arange(len(order)))
    pols = uvh5.parallel_hands(h["polarization_array"][()])
    trivial_pols = len(h["polarization_array"]) == 2 and np.array_equal(pols, [0, 1])
    rows = FileRows(None if identity else order, swap if swap.any() else None, None if trivial_pols else pols)
    return times[order], r1[order], r2[order], rows


def read_group_header(path: Path, layout: Layout) -> GroupHeader:
    """The first file's header; any failure is reported with the file's name."""
    try:
        with h5py.File(path, "r") as handle:
            h = handle["Header"]
            extra = h.get("extra_keywords", {})
            if "phase_center_dec" not in extra:
                raise uvh5.HeaderError("no extra_keywords/phase_center_dec (the pointing declination)")
            times, ant1, ant2, rows = canonical_rows(h, layout)
            centres, ids = uvh5.phase_centres(h)
            header = GroupHeader(
                time_jd=times,
                ant1=ant1,
                ant2=ant2,
                n_freqs=int(h["Nfreqs"][()]),
                polarizations=np.array(uvh5.PARALLEL_HANDS),
                integration_s=float(np.atleast_1d(h["integration_time"][()])[0]),
                pointing_dec_rad=float(extra["phase_center_dec"][()]),
                centres=centres,
                centre_ids=ids if rows.order is None else ids[rows.order],
                telescope_name=uvh5.text(h["telescope_name"][()]),
                rows=rows,
            )
    except (OSError, KeyError, ValueError) as err:  # UnknownAntenna and HeaderError are ValueErrors
        raise ConversionError(f"{path}: cannot read UVH5 header: {err}") from None
    return header


@dataclass
class FileHeader:
    """What the converter needs to know of each subband file (read with h5py, cheaply)."""

    path: Path
    freqs_hz: np.ndarray
    widths_hz: np.ndarray
    rows: FileRows
    n_pol: int  # polarisations in the file


def read_file_header(path: Path, ref: GroupHeader, layout: Layout) -> FileHeader:
    """Check a subband file against the first file's grid; name the file on any mismatch."""
    problems = []
    try:
        with h5py.File(path, "r") as handle:
            h = handle["Header"]
            times, ant1, ant2, rows = canonical_rows(h, layout)
            freqs = h["freq_array"][()].ravel()
            widths = np.broadcast_to(h["channel_width"][()], freqs.shape).astype(float)
            n_pol = len(h["polarization_array"])
            centres, ids = uvh5.phase_centres(h)
            dec = (
                h["extra_keywords/phase_center_dec"][()] if "phase_center_dec" in h.get("extra_keywords", {}) else None
            )
    except (OSError, KeyError, ValueError) as err:
        raise ConversionError(f"{path}: cannot read UVH5 header: {err}") from None
    if len(times) != len(ref.time_jd) or not np.allclose(times, ref.time_jd, atol=1e-8, rtol=0):
        problems.append("a different time grid")
    elif not (np.array_equal(ant1, ref.ant1) and np.array_equal(ant2, ref.ant2)):
        problems.append("different baselines")
    elif not (
        centres == ref.centres and np.array_equal(ids if rows.order is None else ids[rows.order], ref.centre_ids)
    ):
        problems.append("different phase centres")
    if len(freqs) != ref.n_freqs:
        problems.append(f"{len(freqs)} channels where the group's first file has {ref.n_freqs}")
    if dec is None or not np.isclose(dec, ref.pointing_dec_rad, atol=1e-6):
        problems.append(f"pointing dec {dec} rad where the group's first file has {ref.pointing_dec_rad}")
    if problems:
        raise ConversionError(f"{path}: " + "; ".join(problems))
    return FileHeader(path, freqs, widths, rows, n_pol)


def _read_into(handle: h5py.File, name: str, header: FileHeader, buffer: np.ndarray) -> np.ndarray:
    """Read one data set whole into ``buffer`` (rows, channels, the file's polarisations);
    return it with channels ascending (a view). The old spectral-window axis is read through."""
    dset = handle.get(name)
    if dset is None or not uvh5.data_shape(dset.shape, *buffer.shape):
        got = None if dset is None else dset.shape
        raise ConversionError(f"{header.path}: {name} missing or of shape {got}, expected {buffer.shape}")
    target = buffer.reshape(dset.shape)
    if dset.dtype.names:  # compound (r, i) storage of complex data
        raw = dset[()]
        target[...] = raw["r"] + 1j * raw["i"]
    else:
        dset.read_direct(target)
    descending = header.freqs_hz[0] > header.freqs_hz[-1]
    return buffer[:, ::-1] if descending else buffer


def _canonical(values: np.ndarray, rows: FileRows, conjugate: bool = False) -> np.ndarray:
    """A file's (rows, channels, pols) block in the group's canonical order: parallel hands
    only, rows stored as (ant2, ant1) conjugated (visibilities only), rows sorted."""
    if rows.pols is not None:
        values = np.ascontiguousarray(values[..., rows.pols])
    if conjugate and rows.conjugate is not None:
        values[rows.conjugate] = np.conj(values[rows.conjugate])
    return values if rows.order is None else values[rows.order]


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
    buffers: dict = {}  # reused from file to file: no new pages to fault in
    for k in indices:
        h, start = r["headers"][k], r["starts"][k]
        stop = start + len(h.freqs_hz)
        shape = (data.shape[0], len(h.freqs_hz), h.n_pol)
        if shape not in buffers:
            buffers[shape] = [np.empty(shape, a.dtype) for a in r["arrays"]]
        try:
            with h5py.File(h.path, "r") as handle:
                vis, flg, ns = (
                    _canonical(_read_into(handle, f"Data/{name}", h, buffer), h.rows, name == "visdata")
                    for name, buffer in zip(("visdata", "flags", "nsamples"), buffers[shape])
                )
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


def read_group(
    paths: list[Path], ref: GroupHeader, layout: Layout, workers: int = 1, dw: np.ndarray | None = None
) -> GroupData:
    """Read 16 subband files (any order) into frequency-ascending arrays, each file once.

    ``workers`` forked processes share the files (HDF5 reads hold a global lock, so
    threads would not help); they write straight into shared memory, re-phasing each
    file by the per-row delta-w ``dw`` on the way when it is given.
    """
    headers = [read_file_header(p, ref, layout) for p in paths]
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
    return GroupData(
        ref,
        arrays[0],
        arrays[1],
        nsamples,
        np.array(row_nsamples[0]),
        freqs_hz,
        widths,
        windows,
        [h.path.name for h in headers],
    )


@dataclass
class Geometry:
    """Per-row quantities of the re-phasing, from the station layout (the authority)."""

    ra_rad: float  # the new phase centre, ICRS
    dec_rad: float
    jd_mid: float
    dw_m: np.ndarray  # (n_blt,) w towards the new centre minus w towards the correlator's
    uvw_m: np.ndarray  # (n_blt, 3) towards the new centre, u and v along ICRS east and north


def correlator_centre(centre: dict, jd: np.ndarray, lst: np.ndarray, site) -> tuple[np.ndarray, np.ndarray]:
    """Apparent RA/Dec per time of a phase centre the correlator used (`uvh5.phase_centres`)."""
    import erfa

    kind, frame = centre.get("cat_type"), centre.get("cat_frame")
    if kind == "hadec":  # the correlator's legacy header: hour angle and declination of date
        return np.mod(lst - float(centre["cat_lon"]), 2 * np.pi), np.full(len(jd), float(centre["cat_lat"]))
    if kind == "unprojected" or (kind == "driftscan" and frame == "altaz"):
        az, el = (0.0, np.pi / 2) if kind == "unprojected" else (float(centre["cat_lon"]), float(centre["cat_lat"]))
        ha, dec = erfa.ae2hd(az, el, site.lat.rad)
        return np.mod(lst - ha, 2 * np.pi), np.full(len(jd), dec)
    if kind in ("sidereal", "driftscan") and frame in ("icrs", "fk5"):  # FK5 J2000 = ICRS to 0.02"
        return geometry.apparent_radec(float(centre["cat_lon"]), float(centre["cat_lat"]), jd, site)
    raise ConversionError(f"unsupported correlator phase centre {kind}/{frame}")


def rephasing_geometry(header: GroupHeader, layout: Layout) -> Geometry:
    """New centre (the meridian at mid time, ICRS), per-row delta-w and uvw, with pyuvdata's geometry."""
    site = layout.site
    times, t_index = np.unique(header.time_jd, return_inverse=True)
    jd_mid = float(times.mean())
    ra, dec = (float(x[0]) for x in geometry.meridian_icrs(jd_mid, header.pointing_dec_rad, site))
    stations = np.unique(np.concatenate([header.ant1, header.ant2]))
    rel = layout.relative_ecef[stations]
    lst = geometry.lst(times, site)
    new_ra, new_dec = geometry.apparent_radec(ra, dec, times, site)
    frame_pa = geometry.frame_position_angle(times, new_ra, new_dec, site)
    uvw_new = geometry.antenna_uvw(rel, lst, new_ra, new_dec, site, frame_pa)  # (t, ant, 3)
    i1, i2 = np.searchsorted(stations, header.ant1), np.searchsorted(stations, header.ant2)
    uvw = uvw_new[t_index, i2] - uvw_new[t_index, i1]
    w_old = np.empty(len(t_index))
    for centre_id, centre in header.centres.items():
        rows = header.centre_ids == centre_id
        if rows.any():
            old_ra, old_dec = correlator_centre(centre, times, lst, site)
            w = geometry.antenna_uvw(rel, lst, old_ra, old_dec, site)[..., 2]  # (t, ant)
            w_old[rows] = w[t_index[rows], i2[rows]] - w[t_index[rows], i1[rows]]
    return Geometry(ra, dec, jd_mid, uvw[:, 2] - w_old, uvw)


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


def convert_group(
    paths: list[Path],
    ms_path: Path,
    flags_json: Path,
    layout: Layout,
    conv_cfg: dict,
    sefd_jy: float,
    name: str,
    dish_diameter_m: float = 4.65,
) -> dict:
    """Convert and flag one group; write ``ms_path`` and ``flags_json``. Returns the flag summary."""
    strategy_path = conv_cfg["aoflagger_strategy"]
    if ms_path.exists():
        raise FileExistsError(f"{ms_path} exists: a Measurement Set is written once and never overwritten")
    t0 = time.perf_counter()
    header = read_group_header(paths[0], layout)
    geom = rephasing_geometry(header, layout)
    group = read_group(paths, header, layout, conv_cfg["workers"], geom.dw_m)
    t_read = time.perf_counter()

    counts = flagging.FlagCounts(total=group.flags.size, input_flags=int(np.count_nonzero(group.flags)))
    counts.bad_values = flagging.flag_bad_values(group.data, group.flags)
    counts.autocorrelations = flagging.flag_autocorrelations(group.flags, header.ant1, header.ant2)
    if conv_cfg["aoflagger"]:
        counts.aoflagger = flagging.flag_rfi(
            group.data, group.flags, header.ant1, header.ant2, strategy_path, conv_cfg["workers"]
        )
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
    content = msio.MSContent(  # ANTENNA rows: every station of the layout, in its order
        data=group.data,
        flags=group.flags,
        weights=group.nsamples,
        row_weights=group.row_nsamples * channel_weight.mean(),
        ant1=header.ant1,
        ant2=header.ant2,
        time_jd=header.time_jd,
        interval_s=header.integration_s,
        uvw=-geom.uvw_m,
        freqs_hz=group.freqs_hz,
        widths_hz=group.widths_hz,
        windows=[slice(0, len(group.freqs_hz))] if merged else group.windows,
        polarizations=list(header.polarizations),
        field_name=name,
        ra_rad=geom.ra_rad,
        dec_rad=geom.dec_rad,
        history=(
            f"contimg.convert: group {name} from {len(paths)} files ({', '.join(group.files)}) written for "
            f"telescope {header.telescope_name!r}; antennas by name from the station layout; "
            f"phased to the meridian at JD {geom.jd_mid:.6f}: ICRS RA {np.rad2deg(geom.ra_rad):.5f} "
            f"Dec {np.rad2deg(geom.dec_rad):.5f} deg; flagged: bad values, autocorrelations"
            + (f", AOFlagger strategy {Path(strategy_path).name}." if conv_cfg["aoflagger"] else ".")
        ),
    )
    t_phase = time.perf_counter()

    with staging.staged_directory(ms_path) as tmp:
        msio.write_ms(str(tmp), content, layout, TELESCOPE, dish_diameter_m)
        summary = flagging.flag_summary(
            group.flags, header.ant1, header.ant2, dict(enumerate(layout.names)), group.freqs_hz, counts
        )
        summary["timing_s"] = {
            "read": round(t_read - t0, 2),
            "flag": round(t_flag - t_read, 2),
            "phase": round(t_phase - t_flag, 2),
            "write": round(time.perf_counter() - t_phase, 2),
        }
        summary["phase_centre_icrs_deg"] = [
            round(float(np.rad2deg(geom.ra_rad)), 6),
            round(float(np.rad2deg(geom.dec_rad)), 6),
        ]
    flags_json.write_text(json.dumps(summary, indent=1))
    return summary
