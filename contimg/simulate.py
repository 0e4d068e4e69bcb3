"""A simulated DSA-110 night: correlator-format UVH5 files of a known sky, plus the truth.

The array drift-scans at a fixed declination. Each group is 16 subband files of 24
integrations, fringe-stopped (as the correlator does) on the meridian at the pointing
declination at each integration. The sky is the catalogue (point sources with spectral
indices), one source whose flux changes between groups and one transient present in a
single group, seen through the Airy beam of the 4.65 m dish; or, with ``simulation.survey``,
a sky drawn apart from the catalogue, with resolved sources, that a survey lists with errors
(`simulated_survey`). Corruptions, each
switchable: per-antenna complex gains drifting in time, per-antenna bandpasses, thermal
noise from the SEFD, and narrow-band RFI.

Visibilities come from `predict` (factorised per antenna), so a
full-size group costs a batched matrix product per integration and channel, one
subband at a time (memory stays at a few hundred MB).

``simulation.file_format`` writes the same data in the other legal forms of a UVH5 file
(antenna numbering and naming, row order, conjugated rows, uvw type, channel order, four
polarisations, phase-centre description, the old spectral-window axis): what another
writer, or the DSA-110 correlator itself, puts on disk.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from astropy import units as u
from astropy.time import Time, TimeDelta

from . import geometry, naming, paths, predict, simulated_survey, surveys, uvh5
from .layout import Layout, layout_from_config, select_active
from .sky import SHAPE_COLUMNS, Catalog

POLARIZATIONS = (-5, -6)  # XX, YY in pyuvdata's numbering
TRUTH_CONVENTION = (
    "raw V_ab = G_a conj(G_b) (model_ab + noise_ab + rfi_ab), G = gain(t) * bandpass(f), "
    "model_ab = sum_s S_s A_s exp(+2 pi i (x_b - x_a).(s - s_pc) / lambda) (pyuvdata's convention)"
)


@dataclass(frozen=True)
class Band:
    """Frequencies of every subband file, in file order (channels descending)."""

    freqs_hz: np.ndarray  # (n_subbands, n_chan)
    channel_width_hz: float

    @property
    def n_subbands(self) -> int:
        return self.freqs_hz.shape[0]


def make_band(band_cfg: dict, channels_per_subband: int) -> Band:
    """The telescope's band averaged to ``channels_per_subband`` channels per subband.

    sb00 holds the highest frequencies and channels run downwards inside each file,
    as in the correlator output. Averaging keeps the band edges, so the coarse channels
    are the means of blocks of the 48 native channels.
    """
    native = band_cfg["channels_per_subband"]
    if native % channels_per_subband:
        raise ValueError(f"channels_per_subband {channels_per_subband} must divide {native}")
    n_sb, width = band_cfg["n_subbands"], band_cfg["channel_width_hz"]
    fine = band_cfg["top_channel_hz"] - width * np.arange(n_sb * native)
    coarse = fine.reshape(n_sb, channels_per_subband, native // channels_per_subband).mean(axis=2)
    return Band(coarse, width * native / channels_per_subband)


@dataclass(frozen=True)
class Group:
    """One simulated group: its index, integration mid-times and file timestamps."""

    index: int
    times: Time  # (n_int,) mid-times of the integrations
    file_stamps: list[str]  # one timestamp string per subband


def plan_night(sim_cfg: dict, instrument_cfg: dict, n_groups: int, n_subbands: int) -> list[Group]:
    """Consecutive groups from ``start_utc``; subband file names jitter by a few seconds."""
    tau = instrument_cfg["integration_s"]
    n_int = instrument_cfg["integrations_per_file"]
    start = Time(sim_cfg["start_utc"], scale="utc")
    rng = np.random.default_rng([sim_cfg["seed"], 1])
    groups = []
    for g in range(n_groups):
        t0 = start + TimeDelta(g * n_int * tau, format="sec")
        times = t0 + TimeDelta((np.arange(n_int) + 0.5) * tau, format="sec")
        jitter = rng.uniform(0, sim_cfg["timestamp_jitter_s"], n_subbands)
        stamps = [naming.timestamp(t0 + TimeDelta(j, format="sec")) for j in jitter]
        groups.append(Group(g, times, stamps))
    return groups


@dataclass(frozen=True)
class Corruptions:
    """The truth of the instrument: gains per integration, bandpasses, RFI channels."""

    gains: np.ndarray  # (n_groups, n_int, n_ant, n_pol) complex
    bandpass: np.ndarray  # (n_subbands, n_chan, n_ant, n_pol) complex
    rfi_channels: np.ndarray  # (n_rfi, 2) subband, channel
    rfi_antenna_phase: np.ndarray  # (n_rfi, n_ant)


def make_corruptions(sim_cfg: dict, groups: list[Group], band: Band, n_ant: int) -> Corruptions:
    """Gains drifting smoothly in time, delay-dominated bandpasses, fixed RFI channels."""
    rng = np.random.default_rng([sim_cfg["seed"], 2])
    switches = sim_cfg["corruptions"]
    n_pol = len(POLARIZATIONS)
    hours = np.array([(grp.times - groups[0].times[0]).to_value(u.hour) for grp in groups])
    if switches["gains"]:
        g = sim_cfg["gains"]
        amp0 = 1 + g["amplitude_rms"] * rng.standard_normal((n_ant, n_pol))
        drift = g["amplitude_drift_per_hour"] * rng.standard_normal((n_ant, n_pol))
        phase0 = rng.uniform(-np.pi, np.pi, (n_ant, n_pol))
        rate = np.deg2rad(g["phase_drift_deg_per_hour"]) * rng.standard_normal((n_ant, n_pol))
        h = hours[..., None, None]
        gains = amp0 * (1 + drift * h) * np.exp(1j * (phase0 + rate * h))
    else:
        gains = np.ones(hours.shape + (n_ant, n_pol), complex)
    if switches["bandpass"]:
        b = sim_cfg["bandpass"]
        f = band.freqs_hz[..., None, None]
        x = (f - band.freqs_hz.min()) / np.ptp(band.freqs_hz)
        delay = 1e-9 * b["delay_rms_ns"] * rng.standard_normal((n_ant, n_pol))
        ripple_phase = rng.uniform(0, 2 * np.pi, (n_ant, n_pol))
        amp = 1 + b["amplitude_ripple"] * np.sin(2 * np.pi * 3 * x + ripple_phase) - 0.1 * (x - 0.5) ** 2
        bandpass = amp * np.exp(2j * np.pi * delay * (f - band.freqs_hz.mean()))
    else:
        bandpass = np.ones(band.freqs_hz.shape + (n_ant, n_pol), complex)
    n_rfi = sim_cfg["rfi"]["channels"] if switches["rfi"] else 0
    flat = rng.choice(band.freqs_hz.size, size=n_rfi, replace=False)
    rfi_channels = np.stack(np.unravel_index(flat, band.freqs_hz.shape), axis=1)
    rfi_phase = rng.uniform(-np.pi, np.pi, (n_rfi, n_ant))
    return Corruptions(gains, bandpass, rfi_channels, rfi_phase)


def source_fluxes(catalog: Catalog, sim_cfg: dict, n_groups: int) -> tuple[Catalog, np.ndarray]:
    """The true sky of the night: catalogue + transient, and each source's 1.4 GHz flux per group.

    Returns the full source list and a (n_src, n_groups) array of flux scale factors
    (1 for constant sources; a sinusoid for the variable; one group for the transient).
    """
    table = catalog.table.copy()
    table["kind"] = "constant"
    scale = np.ones((len(table), n_groups))
    var = sim_cfg.get("variable")
    if var:
        hit = table.index[table["name"] == var["source"]]
        if hit.empty:
            raise ValueError(f"simulation.variable.source: {var['source']!r} is not in the sky catalogue")
        phase = 2 * np.pi * np.arange(n_groups) / var["period_groups"]
        scale[hit[0]] = 1 + var["fractional_amplitude"] * np.sin(phase)
        table.loc[hit[0], "kind"] = "variable"
    trn = sim_cfg.get("transient")
    if trn:
        row = {k: trn[k] for k in ("name", "ra_deg", "dec_deg", "flux_jy", "spectral_index")}
        table = pd.concat([table, pd.DataFrame([{**row, "kind": "transient"}])], ignore_index=True)
        on = np.zeros((1, n_groups))
        if trn["group_index"] < n_groups:
            on[0, trn["group_index"]] = 1.0
        scale = np.vstack([scale, on])
    return Catalog(table), scale


@dataclass(frozen=True)
class Scene:
    """Everything needed to simulate any subband file of the night."""

    layout: Layout
    active: np.ndarray  # rows of ``layout`` of the stations carrying data, ascending
    band: Band
    groups: list[Group]
    sky: Catalog
    flux_scale: np.ndarray  # (n_src, n_groups)
    corruptions: Corruptions
    sim_cfg: dict
    instrument_cfg: dict
    survey_list: pd.DataFrame | None = None  # what the simulated survey lists (simulation.survey)

    @property
    def antpairs(self) -> np.ndarray:
        """(n_bl, 2) layout rows (a1 <= a2), autocorrelations included."""
        a1, a2 = np.triu_indices(len(self.active))
        return np.stack([self.active[a1], self.active[a2]], axis=1)


def array_layout(sim_cfg: dict, instrument_cfg: dict) -> Layout:
    """The simulated array: ``simulation.station_table`` (the true positions), or the built-in
    layout of ``instrument.layout`` when it is null."""
    return layout_from_config({**instrument_cfg, "station_table": sim_cfg.get("station_table")})


def build_scene(
    sim_cfg: dict, instrument_cfg: dict, layout: Layout, catalog: Catalog, calibrators: Collection[str] = ()
) -> Scene:
    """Fix the night's groups, sky and instrument truth from the config; with
    ``simulation.survey`` the sky is drawn apart from ``catalog`` (`simulated_survey`; the
    ``calibrators`` and the variable stay as catalogued)."""
    listed = None
    if sim_cfg.get("survey"):
        protected = {*calibrators, *([sim_cfg["variable"]["source"]] if sim_cfg.get("variable") else [])}
        catalog, listed = simulated_survey.draw(
            catalog, sim_cfg["survey"], sim_cfg["pointing_dec_deg"], protected, sim_cfg["seed"]
        )
    scale_cfg = sim_cfg["scales"][sim_cfg["scale"]]
    band = make_band(instrument_cfg["band"], scale_cfg["channels_per_subband"])
    groups = plan_night(sim_cfg, instrument_cfg, scale_cfg["n_groups"], band.n_subbands)
    active = select_active(layout, scale_cfg["n_antennas"])
    sky, flux_scale = source_fluxes(catalog, sim_cfg, len(groups))
    corruptions = make_corruptions(sim_cfg, groups, band, len(active))
    return Scene(layout, active, band, groups, sky, flux_scale, corruptions, sim_cfg, instrument_cfg, listed)


def group_geometry(scene: Scene, group: Group) -> predict.SourceGeometry:
    """Delays of every source on every antenna relative to the meridian fringe-stop centre."""
    site = scene.layout.site
    jd = group.times.jd
    rel = scene.layout.relative_ecef[scene.active]
    centre = geometry.meridian_apparent(jd, np.deg2rad(scene.sim_cfg["pointing_dec_deg"]), site)
    return predict.source_geometry(rel, jd, scene.sky.ra_rad, scene.sky.dec_rad, centre, centre, site)


def model_visibilities(scene: Scene, group: Group, geom: predict.SourceGeometry, subband: int) -> np.ndarray:
    """(n_int, n_chan, n_ant, n_ant) noiseless, uncorrupted visibilities of one subband file."""
    freqs = scene.band.freqs_hz[subband]
    flux = scene.sky.flux_at(freqs) * scene.flux_scale[:, group.index, None]  # (n_src, n_chan)
    apparent = predict.apparent_flux(flux, geom, freqs, scene.instrument_cfg["dish_diameter_m"])
    shapes = scene.sky.shapes_rad()
    resolved = shapes[:, 0] > 0
    vis = predict.visibilities(geom.select(~resolved), apparent[:, ~resolved], freqs)
    if resolved.any():
        vis += predict.gaussian_visibilities(geom.select(resolved), apparent[:, resolved], freqs, shapes[resolved])
    return vis


def corrupted_visibilities(
    scene: Scene, group: Group, geom: predict.SourceGeometry, subband: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_int, n_bl, n_chan, n_pol) raw data of one subband file, and its true RFI mask."""
    cfg, truth = scene.sim_cfg, scene.corruptions
    rng = np.random.default_rng([cfg["seed"], 3, group.index, subband])
    model = model_visibilities(scene, group, geom, subband)
    n_int, n_chan, n_ant, _ = model.shape
    a1, a2 = np.triu_indices(n_ant)
    vis = np.repeat(model[:, :, a1, a2][..., None], len(POLARIZATIONS), axis=-1)  # (t, f, bl, p)
    is_auto = a1 == a2
    tau = scene.instrument_cfg["integration_s"]
    sefd = cfg["sefd_jy"]
    vis[:, :, is_auto, :] += sefd
    if cfg["corruptions"]["noise"]:
        sigma = sefd / np.sqrt(2 * scene.band.channel_width_hz * tau)
        noise = rng.standard_normal(vis.shape) + 1j * rng.standard_normal(vis.shape)
        noise[:, :, is_auto, :] = np.sqrt(2) * noise[:, :, is_auto, :].real
        vis += sigma * noise
    rfi_mask = np.zeros((n_int, n_chan), bool)
    for k, (sb, chan) in enumerate(truth.rfi_channels):
        if sb != subband:
            continue
        on = rng.random(n_int) < cfg["rfi"]["time_fraction"]
        strength = cfg["rfi"]["flux_jy"] * rng.uniform(0.5, 1.5, (n_int, 1))
        r = np.exp(1j * (truth.rfi_antenna_phase[k] + rng.normal(0, 0.3, (n_int, n_ant))))
        vis[on, chan] += (strength * np.conj(r[:, a1]) * r[:, a2])[on][..., None]
        rfi_mask[on, chan] = True
    gain = truth.gains[group.index][:, None, :, :] * truth.bandpass[subband][None, :, :, :]  # (t, f, a, p)
    vis *= gain[:, :, a1, :] * np.conj(gain[:, :, a2, :])
    return np.moveaxis(vis, 2, 1), rfi_mask


def header_antennas(layout: Layout, fmt: dict, seed: int) -> tuple[np.ndarray, list[str]]:
    """The header's antenna numbers and names of every station, as ``fmt`` spells them."""
    stations = layout.numbers
    numbering = fmt["antenna_numbers"]
    if numbering == "one_based":
        numbers = stations
    elif numbering == "zero_based":
        numbers = stations - 1
    else:  # shuffled: distinct numbers unrelated to the stations
        numbers = np.random.default_rng([seed, 5]).permutation(len(stations)) * 3 + 7
    spelling = {"dsa": "DSA-{:03d}", "number": "{:d}", "pad": "pad{:d}"}[fmt["antenna_names"]]
    return numbers, [spelling.format(n) for n in stations]


CROSS_HANDS = (-7, -8)  # XY, YX: the correlator's 4-polarisation order is XX, XY, YX, YY


def _file_layout(scene: Scene, group: Group, subband: int, vis: np.ndarray) -> dict:
    """``vis`` (t, bl, f, p) and its row metadata arranged as ``simulation.file_format`` says."""
    fmt, seed = scene.sim_cfg["file_format"], scene.sim_cfg["seed"]
    pairs = scene.antpairs.copy()
    freqs = scene.band.freqs_hz[subband]
    pols = list(POLARIZATIONS)
    if fmt["polarizations"] == 4:  # unpolarised sky: the cross hands hold noise only
        rng = np.random.default_rng([seed, 6, group.index, subband])
        sigma = scene.sim_cfg["sefd_jy"] / np.sqrt(
            2 * scene.band.channel_width_hz * scene.instrument_cfg["integration_s"]
        )
        cross = sigma * (rng.standard_normal(vis.shape) + 1j * rng.standard_normal(vis.shape))
        vis = np.stack([vis[..., 0], cross[..., 0], cross[..., 1], vis[..., 1]], axis=-1)
        pols = [POLARIZATIONS[0], *CROSS_HANDS, POLARIZATIONS[1]]
    rng = np.random.default_rng([seed, 7])  # the same baselines in every file
    swap = (pairs[:, 0] != pairs[:, 1]) & (rng.random(len(pairs)) < fmt["conjugated_fraction"])
    if swap.any():  # V_ba = conj(V_ab), and the cross hands trade places
        pairs[swap] = pairs[swap][:, ::-1]
        flipped = np.conj(vis[:, swap])
        if len(pols) == 4:
            flipped = flipped[..., [0, 2, 1, 3]]
        vis[:, swap] = flipped
    if fmt["channel_order"] == "ascending":
        freqs, vis = freqs[::-1], vis[:, :, ::-1]
    return {"vis": vis, "pairs": pairs, "freqs": freqs, "pols": pols}


def _phase_centres(scene: Scene, group: Group, n_bl: int, baseline_major: bool) -> tuple[dict, np.ndarray]:
    """The phase-centre catalogue and per-row ids of a file (the meridian at the pointing)."""
    dec = np.deg2rad(scene.sim_cfg["pointing_dec_deg"])
    site = scene.layout.site
    lat = site.lat.rad
    if scene.sim_cfg["file_format"]["phase_centre"] == "sidereal":  # one ICRS entry per integration
        ra, dec_icrs = geometry.meridian_icrs(group.times.jd, dec, site)
        catalog = {
            k: {
                "cat_name": f"meridian {k}",
                "cat_type": "sidereal",
                "cat_lon": float(ra[k]),
                "cat_lat": float(dec_icrs[k]),
                "cat_frame": "icrs",
                "cat_epoch": 2000.0,
            }
            for k in range(len(ra))
        }
        per_time = np.arange(len(ra))
        ids = np.tile(per_time, (n_bl, 1)).T if not baseline_major else np.tile(per_time, (n_bl, 1))
        return catalog, ids.ravel()
    altitude = np.pi / 2 - abs(dec - lat)
    catalog = {
        0: {
            "cat_name": "meridian",
            "cat_type": "driftscan",
            "cat_lon": 0.0 if dec > lat else np.pi,
            "cat_lat": altitude,
            "cat_frame": "altaz",
        }
    }
    return catalog, np.zeros(len(group.times) * n_bl, int)


def write_subband(scene: Scene, group: Group, geom: predict.SourceGeometry, subband: int, path: Path) -> np.ndarray:
    """Write one correlator-format UVH5 file (atomically); return its true RFI mask (t, f)."""
    from pyuvdata import Telescope, UVData

    vis, rfi_mask = corrupted_visibilities(scene, group, geom, subband)
    fmt = scene.sim_cfg["file_format"]
    layout = scene.layout
    numbers, names = header_antennas(layout, fmt, scene.sim_cfg["seed"])
    arranged = _file_layout(scene, group, subband, vis)
    telescope = Telescope.new(
        name="DSA-110",
        location=layout.site,
        antenna_positions=layout.relative_ecef,
        antenna_names=names,
        antenna_numbers=numbers,
        antenna_diameters=np.full(len(names), scene.instrument_cfg["dish_diameter_m"]),
        mount_type="alt-az",
        instrument="DSA-110",
        feeds=["x", "y"],
        x_orientation="east",
        update_from_known=False,
    )
    n_int, n_bl = len(group.times), len(arranged["pairs"])
    baseline_major = fmt["blt_order"] == "baseline"
    data = np.swapaxes(arranged["vis"], 0, 1) if baseline_major else arranged["vis"]
    catalog, ids = _phase_centres(scene, group, n_bl, baseline_major)
    n_blt = n_int * n_bl
    t_index, bl_index = (
        np.divmod(np.arange(n_blt), n_bl) if not baseline_major else np.divmod(np.arange(n_blt), n_int)[::-1]
    )
    times, pairs = group.times.jd[t_index], arranged["pairs"][bl_index]
    with warnings.catch_warnings():  # pyuvdata computes the driftscan uvw itself and says so
        warnings.filterwarnings("ignore", message="Recalculating uvw_array")
        uvd = UVData.new(
            freq_array=arranged["freqs"],
            polarization_array=arranged["pols"],
            times=times,
            telescope=telescope,
            antpairs=numbers[pairs],
            do_blt_outer=False,  # rows exactly as given (pyuvdata's outer product may re-sort baselines)
            integration_time=scene.instrument_cfg["integration_s"],
            channel_width=scene.band.channel_width_hz,
            data_array=data.reshape(n_blt, *data.shape[2:]).astype(np.complex64),
            flag_array=np.zeros((n_blt,) + data.shape[2:], bool),
            nsample_array=np.ones((n_blt,) + data.shape[2:], np.float32),
            phase_center_catalog=catalog,
            phase_center_id_array=ids,
            vis_units="uncalib",
        )
    # set here, not in new(), which appends its creation time: the same night is the same bytes
    uvd.history = f"Simulated DSA-110 group {group.index}, subband {subband}, {uvh5.SIMULATOR_SIGNATURE}"
    uvd.extra_keywords["phase_center_dec"] = np.deg2rad(scene.sim_cfg["pointing_dec_deg"])
    _refuse_foreign(path)
    tmp = path.with_name(f".{path.name}.tmp")
    uvd.write_uvh5(str(tmp), clobber=True, run_check=False)
    with h5py.File(tmp, "r+") as handle:
        _rewrite_header(handle, fmt)
    os.replace(tmp, path)
    return rfi_mask


def _rewrite_header(handle: h5py.File, fmt: dict) -> None:
    """The parts of ``fmt`` pyuvdata 3 does not write itself: float32 uvw (production files),
    the correlator's legacy phase description and the old spectral-window axis."""
    header = handle["Header"]
    if fmt["uvw_dtype"] == "float32":
        uvw = header["uvw_array"][()]
        del header["uvw_array"]
        header.create_dataset("uvw_array", data=uvw.astype(np.float32))
    if fmt["phase_centre"] == "legacy":  # pyuvdata 2.1 and the DSA-110 correlator: no catalogue
        for name in (
            "phase_center_catalog",
            "phase_center_id_array",
            "phase_center_app_ra",
            "phase_center_app_dec",
            "phase_center_frame_pa",
        ):
            if name in header:
                del header[name]
        header["phase_type"] = np.bytes_("drift")
        header["extra_keywords"]["ha_phase_center"] = 0.0
        header["extra_keywords"]["phase_center_epoch"] = np.bytes_("HADEC")
    if fmt["spw_axis"]:
        freqs = header["freq_array"][()]
        del header["freq_array"]
        header["freq_array"] = freqs[None, :]
        for name in ("visdata", "flags", "nsamples"):
            values = handle["Data"][name][()]
            del handle["Data"][name]
            handle["Data"][name] = values[:, None]


def _refuse_foreign(path: Path) -> None:
    """Never overwrite a file this simulator did not write (real data in the same directory)."""
    if not path.exists():
        return
    ours = uvh5.written_by_simulator(path)
    if not ours:
        raise FileExistsError(f"refusing to overwrite {path}: it was not written by the simulator")


def write_truth(scene: Scene, truth_dir: Path, rfi_mask: np.ndarray) -> None:
    """Sky, light curves, gains, bandpasses and RFI (channels; mask per group, subband, t, f)."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    scene.sky.table.to_csv(truth_dir / "sky.csv", index=False)
    rows = []
    for grp in scene.groups:
        mjd = grp.times.mjd.mean()
        for k, name in enumerate(scene.sky.names):
            flux = scene.sky.table["flux_jy"].iloc[k] * scene.flux_scale[k, grp.index]
            rows.append(
                {
                    "name": name,
                    "group_index": grp.index,
                    "obs": naming.obs_id(grp.file_stamps),
                    "mjd": mjd,
                    "flux_jy": flux,
                }
            )
    pd.DataFrame(rows).to_csv(truth_dir / "lightcurves.csv", index=False)
    np.savez(
        truth_dir / "instrument.npz",
        antenna_numbers=scene.layout.numbers[scene.active],
        antenna_names=np.array([scene.layout.names[r] for r in scene.active]),
        times_mjd=np.array([grp.times.mjd for grp in scene.groups]),
        freqs_hz=scene.band.freqs_hz,
        gains=scene.corruptions.gains,
        bandpass=scene.corruptions.bandpass,
        rfi_channels=scene.corruptions.rfi_channels,
        rfi_mask=rfi_mask,
        convention=TRUTH_CONVENTION,
    )


def simulate_night(scene: Scene, incoming: Path, truth_dir: Path) -> list[Path]:
    """Write every subband file of every group, then the truth; return the file paths."""
    incoming.mkdir(parents=True, exist_ok=True)
    written = []
    n_int = len(scene.groups[0].times)
    rfi_mask = np.zeros(
        (len(scene.groups),) + scene.band.freqs_hz.shape[:1] + (n_int,) + scene.band.freqs_hz.shape[1:], bool
    )
    for grp in scene.groups:
        geom = group_geometry(scene, grp)
        for sb in range(scene.band.n_subbands):
            path = incoming / naming.raw_filename(grp.file_stamps[sb], sb)
            rfi_mask[grp.index, sb] = write_subband(scene, grp, geom, sb, path)
            written.append(path)
    write_truth(scene, truth_dir, rfi_mask)
    if scene.survey_list is not None:
        listed = scene.survey_list
        (truth_dir / paths.SIMULATED_SURVEY).parent.mkdir(exist_ok=True)
        surveys.write_nvss(
            truth_dir / paths.SIMULATED_SURVEY,
            *(listed[c] for c in ("ra_deg", "dec_deg", "flux_jy", *SHAPE_COLUMNS)),
        )
    summary = {
        "scale": scene.sim_cfg["scale"],
        "n_groups": len(scene.groups),
        "n_antennas": int(len(scene.active)),
        "channels_per_subband": int(scene.band.freqs_hz.shape[1]),
        "noise_sigma_jy": scene.sim_cfg["sefd_jy"]
        / float(np.sqrt(2 * scene.band.channel_width_hz * scene.instrument_cfg["integration_s"])),
        "groups": [naming.obs_id(g.file_stamps) for g in scene.groups],
        "files": [p.name for p in written],
        "convention": TRUTH_CONVENTION,
        "survey": None if scene.survey_list is None else {**scene.sim_cfg["survey"], "file": paths.SIMULATED_SURVEY},
    }
    (truth_dir / "simulation.json").write_text(json.dumps(summary, indent=1))
    return written
