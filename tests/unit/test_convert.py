"""UVH5 group -> flagged MS, against pyuvdata's phasing, astropy's geometry, WSClean and the truth."""

import shutil
import subprocess
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import TETE, SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from casacore.tables import table
from pyuvdata import UVData

from conftest import project_config, simulate_night
from contimg import convert, layout, simulate, sky

NO_CORRUPTION = {"noise": False, "gains": False, "bandpass": False, "rfi": False}
# Three bright sources around the calibrator's track, placed so that their mirror images
# through the phase centre fall on empty sky.
BRIGHT = pd.DataFrame(
    [
        {"name": "A", "ra_deg": 137.50, "dec_deg": 54.90, "flux_jy": 4.0, "spectral_index": 0.0},
        {"name": "B", "ra_deg": 137.95, "dec_deg": 55.30, "flux_jy": 4.0, "spectral_index": -0.7},
        {"name": "C", "ra_deg": 136.10, "dec_deg": 54.25, "flux_jy": 4.0, "spectral_index": -0.5},
    ]
)


def convert_one(files, out, name="g", **conv):
    cfg = project_config()
    conv_cfg = {**cfg["conversion"], **conv}
    lay = layout.layout_from_config(cfg["instrument"])
    ms = out / f"{name}.ms"
    summary = convert.convert_group(list(files), ms, out / f"{name}.flags.json", lay, conv_cfg, 5800.0, name)
    return ms, summary


def group_files(files, group):
    return files[16 * group : 16 * (group + 1)]


@pytest.fixture(scope="module")
def bright_night(tmp_path_factory):
    out = tmp_path_factory.mktemp("bright")
    scene, files = simulate_night(
        out, catalog=sky.Catalog(BRIGHT), scale="tiny", variable=None, transient=None, corruptions=NO_CORRUPTION
    )
    ms, summary = convert_one(group_files(files, 1), out, aoflagger=False)
    return out, scene, files, ms


def test_ms_structure(bright_night):
    out, scene, files, ms = bright_night
    with table(str(ms), ack=False) as main:
        assert main.nrows() == 24 * len(scene.antpairs)
        assert len(np.unique(main.getcol("TIME"))) == 24  # every integration
        assert np.allclose(main.getcol("INTERVAL"), 12.884902) and np.allclose(main.getcol("EXPOSURE"), 12.884902)
        assert set(main.getcol("FIELD_ID")) == {0}
        width = scene.band.channel_width_hz
        sigma = 5800.0 / np.sqrt(2 * width * 12.884902)
        assert np.allclose(main.getcol("SIGMA"), sigma, rtol=1e-5)
        assert np.allclose(main.getcol("WEIGHT"), sigma**-2, rtol=1e-5)
        flags = main.getcol("FLAG")
        autos = main.getcol("ANTENNA1") == main.getcol("ANTENNA2")
        assert flags[autos].all() and not flags[~autos].any()
    with table(f"{ms}/FIELD", ack=False) as field:
        assert field.nrows() == 1
    with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        assert spw.nrows() == 1
        freqs = spw.getcol("CHAN_FREQ")[0]
        assert np.all(np.diff(freqs) > 0) and len(freqs) == scene.band.freqs_hz.size
        assert np.allclose(np.sort(freqs), np.sort(scene.band.freqs_hz.ravel()))
    with table(f"{ms}/ANTENNA", ack=False) as ant:
        assert list(ant.getcol("NAME")) == scene.layout.names
        assert np.allclose(ant.getcol("POSITION"), scene.layout.ecef, atol=1e-3)
        assert np.allclose(ant.getcol("DISH_DIAMETER"), 4.65)
        assert set(ant.getcol("MOUNT")) == {"alt-az"}
    with table(f"{ms}/OBSERVATION", ack=False) as obs:
        assert obs.getcol("TELESCOPE_NAME")[0] == "DSA-110"
    with table(f"{ms}/HISTORY", ack=False) as hist:
        assert any("contimg.convert" in m for m in hist.getcol("MESSAGE"))


def test_phase_centre_is_the_meridian_at_mid_time(bright_night):
    _, scene, _, ms = bright_night
    with table(f"{ms}/FIELD", ack=False) as field:
        ra, dec = field.getcol("PHASE_DIR")[0, 0]
    mid = Time(scene.groups[1].times.jd.mean(), format="jd")
    site = scene.layout.site
    last = mid.sidereal_time("apparent", longitude=site.lon)
    meridian = SkyCoord(last, 54.57 * u.deg, frame=TETE(obstime=mid, location=site)).icrs
    assert SkyCoord(ra * u.rad, dec * u.rad).separation(meridian).arcsec < 0.5


def test_visibilities_equal_pyuvdata_phasing_to_float32(bright_night):
    _, scene, files, ms = bright_night
    with table(f"{ms}/FIELD", ack=False) as field:
        ra, dec = field.getcol("PHASE_DIR")[0, 0]
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in group_files(files, 1):  # one by one: float32 uvw make pyuvdata's multi-file read fail
            part = UVData()
            part.read(str(f), file_type="uvh5", run_check=False)
            part.uvw_array = part.uvw_array.astype(float)
            parts.append(part)
        uvd = parts[0].fast_concat(parts[1:], axis="freq", run_check=False)
        uvd.set_uvws_from_antenna_positions(update_vis=False)
        uvd.phase(lon=ra, lat=dec, cat_name="check")
    order = np.argsort(uvd.freq_array)
    expected = np.conj(uvd.data_array[:, order])  # the MS holds the conjugate (pyuvdata's MS convention)
    with table(str(ms), ack=False) as main:
        data = main.getcol("DATA")
        uvw = main.getcol("UVW")
    cross = uvd.ant_1_array != uvd.ant_2_array
    scale = np.abs(expected[cross]).max()
    assert np.abs(data[cross] - expected[cross]).max() < 2e-6 * scale
    assert np.abs(uvw[:, 2] + uvd.uvw_array[:, 2]).max() < 1e-6  # metres; uvw negated with the conjugation
    # u, v differ from pyuvdata's by its frame-angle approximation (~3e-5 rad), see geometry
    length = np.linalg.norm(uvw, axis=1)
    assert np.all(np.abs(uvw[:, :2] + uvd.uvw_array[:, :2]).max(axis=1) <= 1e-4 * length + 1e-6)


def astropy_uvw(ecef_baselines, jd, ra, dec, site):
    """Independent (u, v, w) with astropy: apparent place (TETE), GAST, and the frame position angle."""
    t = Time(jd, format="jd")
    frame = TETE(obstime=t, location=site)  # topocentric apparent place
    centre = SkyCoord(ra * u.rad, dec * u.rad).transform_to(frame)
    north = SkyCoord(ra * u.rad, (dec + 1e-5) * u.rad).transform_to(frame)
    gha = (t.sidereal_time("apparent", longitude=0 * u.deg).rad - centre.ra.rad)[:, None]
    d = centre.dec.rad[:, None]
    lx, ly, lz = ecef_baselines[..., 0], ecef_baselines[..., 1], ecef_baselines[..., 2]
    uu = np.sin(gha) * lx + np.cos(gha) * ly
    vv = -np.sin(d) * np.cos(gha) * lx + np.sin(d) * np.sin(gha) * ly + np.cos(d) * lz
    ww = np.cos(d) * np.cos(gha) * lx - np.cos(d) * np.sin(gha) * ly + np.sin(d) * lz
    pa = centre.position_angle(north).rad[:, None]  # ICRS north seen in the apparent frame
    return np.stack([uu * np.cos(pa) - vv * np.sin(pa), uu * np.sin(pa) + vv * np.cos(pa), ww], axis=-1)


def test_uvw_agrees_with_astropy(bright_night):
    """Within a millimetre per kilometre of baseline plus half a millimetre.

    The residual is the definition of the apparent place: pyuvdata (ERFA atco13) applies
    polar motion there but not when it rotates baselines, astropy's TETE neither; here
    they differ by 0.38" (2.4 mm on 1.3 km, 0.4" of position: 1/45 of the beam).
    """
    _, scene, _, ms = bright_night
    with table(f"{ms}/FIELD", ack=False) as field:
        ra, dec = field.getcol("PHASE_DIR")[0, 0]
    with table(str(ms), ack=False) as main:
        uvw = main.getcol("UVW")
        a1, a2 = main.getcol("ANTENNA1"), main.getcol("ANTENNA2")
        times = main.getcol("TIME")
    pos = scene.layout.ecef
    unique, index = np.unique(times, return_inverse=True)
    jd = unique / 86400 + 2400000.5
    rows = np.arange(len(uvw))
    baselines = np.zeros((len(unique), len(uvw), 3))
    baselines[index, rows] = pos[a1] - pos[a2]  # the MS's uvw are ant1 - ant2 (see the conjugation above)
    expected = astropy_uvw(baselines, jd, ra, dec, scene.layout.site)[index, rows]
    length_km = np.linalg.norm(uvw, axis=1, keepdims=True) / 1e3
    assert np.all(np.abs(uvw - expected) < 5e-4 + 2e-3 * length_km)


def _peak_near(image, wcs, ra, dec, radius_pix):
    x, y = wcs.world_to_pixel_values(ra, dec)
    x0, y0 = int(round(float(x))), int(round(float(y)))
    box = image[y0 - radius_pix : y0 + radius_pix + 1, x0 - radius_pix : x0 + radius_pix + 1]
    iy, ix = np.unravel_index(np.nanargmax(box), box.shape)
    # quadratic interpolation of the peak
    dy = 0.5 * (box[iy - 1, ix] - box[iy + 1, ix]) / (box[iy - 1, ix] - 2 * box[iy, ix] + box[iy + 1, ix])
    dx = 0.5 * (box[iy, ix - 1] - box[iy, ix + 1]) / (box[iy, ix - 1] - 2 * box[iy, ix] + box[iy, ix + 1])
    px, py = x0 - radius_pix + ix + dx, y0 - radius_pix + iy + dy
    peak_ra, peak_dec = wcs.pixel_to_world_values(px, py)
    return box[iy, ix], SkyCoord(peak_ra * u.deg, peak_dec * u.deg)


def test_wsclean_images_every_integration_with_sources_in_place(bright_night, tmp_path):
    out, scene, _, ms = bright_night
    name = tmp_path / "dirty"
    subprocess.run(
        [
            "wsclean",
            "-quiet",
            "-size",
            "1600",
            "1600",
            "-scale",
            "8asec",
            "-weight",
            "briggs",
            "0",
            "-niter",
            "0",
            "-make-psf",
            "-name",
            str(name),
            str(ms),
        ],
        check=True,
        timeout=300,
    )
    with fits.open(f"{name}-dirty.fits") as hdu:
        image, header = hdu[0].data[0, 0], hdu[0].header
    wcs = WCS(header).celestial
    with fits.open(f"{name}-psf.fits") as psf:
        beam_minor_arcsec = psf[0].header["BMIN"] * 3600
    centre = SkyCoord(header["CRVAL1"] * u.deg, header["CRVAL2"] * u.deg)
    for row in BRIGHT.itertuples():
        truth = SkyCoord(row.ra_deg * u.deg, row.dec_deg * u.deg)
        peak, found = _peak_near(image, wcs, row.ra_deg, row.dec_deg, radius_pix=12)
        assert found.separation(truth).arcsec < beam_minor_arcsec / 5, row.name
        # the mirror image through the phase centre holds nothing comparable
        mirror = centre.directional_offset_by(centre.position_angle(truth) + np.pi * u.rad, centre.separation(truth))
        mirror_peak, _ = _peak_near(image, wcs, mirror.ra.deg, mirror.dec.deg, radius_pix=4)
        assert mirror_peak < 0.2 * peak, row.name


@pytest.fixture(scope="module")
def rfi_group(tmp_path_factory):
    """One noisy group with RFI (and gains and bandpass), 48 antennas, 16 x 8 channels."""
    out = tmp_path_factory.mktemp("rfi")
    scales = {"demo": {"n_antennas": 48, "channels_per_subband": 8, "n_groups": 1}}
    scene, files = simulate_night(
        out, scale="demo", scales=scales, rfi={"channels": 6, "time_fraction": 0.5, "flux_jy": 300.0}
    )
    ms, summary = convert_one(files, out)
    return out, scene, ms, summary


def test_rfi_is_flagged_and_clean_data_is_not(rfi_group):
    out, scene, ms, summary = rfi_group
    mask = np.load(out / "truth/instrument.npz")["rfi_mask"][0]  # (subband, t, chan in file)
    n_sb, n_t, n_ch = mask.shape
    ascending = np.concatenate([mask[n_sb - 1 - k][:, ::-1] for k in range(n_sb)], axis=1)  # (t, channel)
    with table(str(ms), ack=False) as main:
        flags = main.getcol("FLAG").any(axis=2)
        cross = main.getcol("ANTENNA1") != main.getcol("ANTENNA2")
        _, t_index = np.unique(main.getcol("TIME"), return_inverse=True)
    truth = ascending[t_index][cross]
    flags = flags[cross]
    assert truth.sum() > 1000
    assert flags[truth].mean() >= 0.95
    assert flags[~truth].mean() < 0.02
    assert summary["newly_flagged"]["aoflagger"] > 0
    per_channel = np.array(summary["per_channel"]["fraction"])
    rfi_channels = ascending.any(axis=0)
    assert per_channel[rfi_channels].min() > per_channel[~rfi_channels].max()


def _copy_group(files, group, dest):
    dest.mkdir()
    return [shutil.copy(f, dest / f.name) for f in group_files(files, group)]


def test_nan_and_zero_antennas_are_flagged_not_fatal(bright_night, tmp_path):
    _, scene, files, _ = bright_night
    paths = [type(files[0])(p) for p in _copy_group(files, 0, tmp_path / "raw")]
    numbers, _ = simulate.header_antennas(scene.layout, scene.sim_cfg["file_format"], scene.sim_cfg["seed"])
    nan_ant, zero_ant = int(numbers[scene.active[3]]), int(numbers[scene.active[5]])
    for path in paths[:2]:
        with h5py.File(path, "r+") as handle:
            a1, a2 = handle["Header/ant_1_array"][()], handle["Header/ant_2_array"][()]
            vis = handle["Data/visdata"][()]
            vis[(a1 == nan_ant) | (a2 == nan_ant)] = np.nan
            vis[(a1 == zero_ant) | (a2 == zero_ant)] = 0
            handle["Data/visdata"][...] = vis
    ms, summary = convert_one(paths, tmp_path, aoflagger=False)
    assert summary["newly_flagged"]["bad_values"] > 0
    with table(str(ms), ack=False) as main:
        data, flags = main.getcol("DATA"), main.getcol("FLAG")
        a1, a2 = main.getcol("ANTENNA1"), main.getcol("ANTENNA2")
    assert np.isfinite(data).all()
    bad = np.isin(a1, [nan_ant - 1, zero_ant - 1]) | np.isin(a2, [nan_ant - 1, zero_ant - 1])
    n_chan_bad = scene.band.freqs_hz.shape[1] * 2  # the first two files hold the top two subbands
    assert flags[bad][:, -n_chan_bad:].all()
    assert not flags[~bad & (a1 != a2)].any()


def test_truncated_file_is_named_and_nothing_is_left(bright_night, tmp_path):
    _, _, files, _ = bright_night
    paths = [type(files[0])(p) for p in _copy_group(files, 0, tmp_path / "raw")]
    with open(paths[7], "r+b") as handle:
        handle.truncate(paths[7].stat().st_size // 3)
    with pytest.raises(convert.ConversionError, match=paths[7].name):
        convert_one(paths, tmp_path)
    assert not list(tmp_path.glob("*.ms*")) and not list(tmp_path.glob(".*tmp"))


def test_subband_with_other_channel_count_is_named(bright_night, tmp_path):
    _, _, files, _ = bright_night
    paths = [type(files[0])(p) for p in _copy_group(files, 0, tmp_path / "raw")]
    _, other = simulate_night(
        tmp_path / "other",
        catalog=sky.Catalog(BRIGHT),
        scale="tiny",
        variable=None,
        transient=None,
        scales={"tiny": {"n_antennas": 16, "channels_per_subband": 4, "n_groups": 1}},
    )
    paths[4] = other[4]
    with pytest.raises(convert.ConversionError, match=f"{other[4].name}: .*channels"):
        convert_one(paths, tmp_path)
    assert not list(tmp_path.glob("*.ms"))


def test_existing_ms_is_never_overwritten(bright_night):
    out, _, files, ms = bright_night
    with pytest.raises(FileExistsError, match="never overwritten"):
        convert_one(group_files(files, 1), out)


def test_subband_windows_layout(bright_night, tmp_path):
    _, scene, files, merged_ms = bright_night
    ms, _ = convert_one(group_files(files, 1), tmp_path, aoflagger=False, spectral_windows="subbands")
    with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs = spw.getcol("CHAN_FREQ")
    assert freqs.shape == (16, scene.band.freqs_hz.shape[1])
    assert np.all(np.diff(freqs.ravel()) > 0)  # windows and channels ascending
    with table(str(ms), ack=False) as main, table(str(merged_ms), ack=False) as merged:
        assert main.nrows() == 16 * merged.nrows()
        n_chan = freqs.shape[1]
        lowest = main.query("DATA_DESC_ID == 0", columns="DATA").getcol("DATA")
        assert np.allclose(lowest, merged.getcol("DATA")[:, :n_chan], atol=1e-6)


def test_casa_reads_the_ms(bright_night, tmp_path):
    _, scene, _, ms = bright_night
    from casatasks import listobs

    summary = listobs(vis=str(ms), listfile=str(tmp_path / "listobs.txt"), overwrite=True)
    assert summary["nfields"] == 1
    assert summary["numrecords"] == 24 * len(scene.antpairs)
    text = (tmp_path / "listobs.txt").read_text()
    assert "DSA-110" in text and "XX  YY" in text


def test_weights_follow_the_sample_counts(bright_night, tmp_path):
    _, scene, files, merged_ms = bright_night
    sigma = 5800.0 / np.sqrt(2 * scene.band.channel_width_hz * 12.884902)
    with table(str(merged_ms), ack=False) as main:  # all counts 1: no spectrum, WEIGHT says it all
        assert "WEIGHT_SPECTRUM" not in main.colnames()
        assert np.allclose(main.getcol("WEIGHT"), sigma**-2, rtol=1e-5)
    paths = [type(files[0])(p) for p in _copy_group(files, 1, tmp_path / "raw")]
    with h5py.File(paths[0], "r+") as handle:  # sb00 (the top subband): half the samples in its first channel
        ns = handle["Data/nsamples"][()]
        ns[:, 0, :] = 0.5
        handle["Data/nsamples"][...] = ns
    ms, _ = convert_one(paths, tmp_path, aoflagger=False)
    with table(str(ms), ack=False) as main:
        spectrum = main.getcol("WEIGHT_SPECTRUM")
    expected = np.full(spectrum.shape[1], sigma**-2)
    expected[-1] *= 0.5  # sb00's first channel is the highest frequency: the last one in the MS
    assert np.allclose(spectrum, expected[None, :, None], rtol=1e-5)
