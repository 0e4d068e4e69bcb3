"""The simulated night: file format as the correlator writes it, and visibilities against the truth."""

import json
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from pyuvdata import UVData
from scipy.special import j1

from conftest import simulate_night
from contimg import naming, paths, simulate, simulated_survey, sky, surveys

C = 299792458.0


def read(path):
    uvd = UVData()
    uvd.read(str(path), file_type="uvh5", run_check=False)  # production-style float32 uvw
    uvd.uvw_array = uvd.uvw_array.astype(np.float64)
    return uvd


def test_files_are_named_and_grouped_like_the_correlator(tiny_night):
    _, scene, files = tiny_night
    assert len(files) == 16 * len(scene.groups)
    for grp in scene.groups:
        stamps = [naming.parse_raw_filename(f.name)[0] for f in files if f.name.split("_sb")[0] in grp.file_stamps]
        seconds = naming.stamp_seconds(stamps)
        assert 0 < seconds.max() - seconds.min() <= 3.0 + 1  # scattered by a few seconds


def test_header_shapes_frequencies_times_polarisations(tiny_night):
    _, scene, files = tiny_night
    n_ant = len(scene.active)
    first = read(files[0])
    assert first.Ntimes == 24 and first.Nbls == n_ant * (n_ant + 1) // 2  # autocorrelations included
    assert list(first.polarization_array) == [-5, -6]
    assert first.telescope.Nants == 117 and first.Nants_data == n_ant
    assert np.allclose(np.diff(np.unique(first.time_array)) * 86400, 12.884902, atol=1e-3)
    assert np.allclose(first.integration_time, 12.884902)
    tops = []
    for f in files[:16]:
        uvd = read(f)
        assert np.all(np.diff(uvd.freq_array) < 0)  # channels descending inside a file
        tops.append(uvd.freq_array.max())
    assert np.all(np.diff(tops) < 0)  # sb00 highest
    half = 244140.625 / 2  # the band's edges are those of the 768 native channels
    width = first.channel_width[0]
    assert tops[0] + width / 2 == pytest.approx(1498.75e6 + half)
    assert min(read(files[15]).freq_array) - width / 2 == pytest.approx(1498.75e6 + half - 187.5e6)
    assert first.extra_keywords["phase_center_dec"] == pytest.approx(np.deg2rad(54.57))
    with h5py.File(files[0]) as handle:
        assert handle["Header/uvw_array"].dtype == np.float32  # as in production files


def test_antenna_positions_follow_the_layout(tiny_night):
    _, scene, files = tiny_night
    uvd = read(files[0])
    assert list(uvd.telescope.antenna_names) == scene.layout.names
    assert np.allclose(uvd.telescope.antenna_positions, scene.layout.relative_ecef, atol=1e-6)
    assert np.allclose(uvd.telescope.antenna_diameters, 4.65)


def direct_sum(uvd, catalog, flux_scale, dish=4.65):
    """Independent model: per source, pyuvdata's own w towards it; beam from scipy; plain loops."""
    base = uvd.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base.set_uvws_from_antenna_positions(update_vis=False)
    w0 = base.uvw_array[:, 2]
    centre = SkyCoord(
        base.phase_center_app_ra, base.phase_center_app_dec, unit="rad"
    )  # the beam lives in the apparent frame
    freqs = uvd.freq_array
    model = np.zeros((uvd.Nblts, uvd.Nfreqs), complex)
    for k, row in enumerate(catalog.table.itertuples()):
        if flux_scale[k] == 0:
            continue
        moved = base.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved.phase(lon=np.deg2rad(row.ra_deg), lat=np.deg2rad(row.dec_deg), cat_name=row.name)
        w = moved.uvw_array[:, 2]
        theta = SkyCoord(moved.phase_center_app_ra, moved.phase_center_app_dec, unit="rad").separation(centre).rad
        x = np.pi * dish * np.sin(theta)[:, None] * freqs[None, :] / C
        airy = (2 * j1(x) / x) ** 2
        flux = row.flux_jy * flux_scale[k] * (freqs / 1.4e9) ** row.spectral_index
        model += flux * airy * np.exp(2j * np.pi * (w - w0)[:, None] * freqs[None, :] / C)
    return model


def test_noiseless_visibilities_match_an_independent_direct_sum(clean_night):
    _, scene, files = clean_night
    group = scene.groups[1]
    for sb in (0, 15):
        path = [f for f in files if f.name.startswith(group.file_stamps[sb]) and f.name.endswith(f"_sb{sb:02d}.hdf5")][
            0
        ]
        uvd = read(path)
        cross = np.flatnonzero(uvd.ant_1_array != uvd.ant_2_array)
        pick = np.isin(uvd.baseline_array, np.unique(uvd.baseline_array[cross])[[0, 7, 40, -1]])
        uvd.select(blt_inds=np.flatnonzero(pick))
        expected = direct_sum(uvd, scene.sky, scene.flux_scale[:, group.index])
        got = uvd.data_array[..., 0]
        assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-5
        assert np.allclose(uvd.data_array[..., 1], got)  # unpolarised sky: XX = YY


def test_gains_and_bandpass_follow_the_stated_convention(tmp_path, clean_night):
    _, clean_scene, clean_files = clean_night
    scene, files = simulate_night(
        tmp_path, scale="tiny", corruptions={"noise": False, "gains": True, "bandpass": True, "rfi": False}
    )
    sb, grp = 4, scene.groups[2]
    clean = read(clean_files[16 * grp.index + sb])
    dirty = read(files[16 * grp.index + sb])
    g = scene.corruptions.gains[grp.index]  # (t, a, p)
    bp = scene.corruptions.bandpass[sb]  # (f, a, p)
    numbers, _ = simulate.header_antennas(scene.layout, scene.sim_cfg["file_format"], scene.sim_cfg["seed"])
    col = {int(numbers[row]): i for i, row in enumerate(scene.active)}
    i1 = np.array([col[a] for a in dirty.ant_1_array])
    i2 = np.array([col[a] for a in dirty.ant_2_array])
    t = np.repeat(np.arange(24), dirty.Nbls)
    gain = g[t][:, None, :, :] * bp[None]  # (blt, f, a, p)
    blt = np.arange(dirty.Nblts)
    expected = clean.data_array * gain[blt, :, i1, :] * np.conj(gain[blt, :, i2, :])
    assert np.allclose(dirty.data_array, expected, rtol=1e-5, atol=1e-3)


def test_thermal_noise_matches_the_sefd(tmp_path):
    empty = sky.Catalog(
        pd.DataFrame(columns=list(sky.CATALOG_COLUMNS)).astype(
            {"ra_deg": float, "dec_deg": float, "flux_jy": float, "spectral_index": float}
        )
    )
    scene, files = simulate_night(
        tmp_path,
        catalog=empty,
        scale="tiny",
        variable=None,
        transient=None,
        corruptions={"noise": True, "gains": False, "bandpass": False, "rfi": False},
    )
    uvd = read(files[5])
    cross = uvd.ant_1_array != uvd.ant_2_array
    sigma = 5800.0 / np.sqrt(2 * scene.band.channel_width_hz * 12.884902)
    measured = np.std(uvd.data_array[cross].real)
    assert measured == pytest.approx(sigma, rel=0.05)
    assert np.std(uvd.data_array[cross].imag) == pytest.approx(sigma, rel=0.05)


def test_rfi_is_narrow_band_and_recorded(tiny_night):
    out, scene, files = tiny_night
    mask = np.load(out / "truth/instrument.npz")["rfi_mask"]  # (group, subband, t, f)
    assert mask.shape == (3, 16, 24, 2)
    assert 0 < mask.mean() < 0.1
    hit_channels = {tuple(c) for c in np.argwhere(mask.any(axis=(0, 2)))}
    assert hit_channels <= {tuple(c) for c in scene.corruptions.rfi_channels}  # only the interferers' channels
    group, sb = np.argwhere(mask.any(axis=(2, 3)))[0]
    uvd = read(files[16 * group + sb])
    cross = uvd.ant_1_array != uvd.ant_2_array
    amp = np.abs(uvd.data_array[cross, :, 0]).reshape(24, -1, uvd.Nfreqs).mean(axis=1)  # (t, f)
    hit = mask[group, sb]
    assert amp[hit].min() > 5 * amp[~hit].max()


def test_truth_is_written_beside_the_data(tiny_night):
    out, scene, _ = tiny_night
    truth = out / "truth"
    lc = pd.read_csv(truth / "lightcurves.csv")
    var = lc[lc["name"] == scene.sim_cfg["variable"]["source"]]["flux_jy"].to_numpy()
    assert np.ptp(var) > 0.05  # the variable varies
    trn = lc[lc["name"] == scene.sim_cfg["transient"]["name"]]
    assert (trn["flux_jy"] > 0).sum() <= 1  # present in at most one group (group 3: not in a 3-group night)
    inst = np.load(truth / "instrument.npz")
    assert inst["gains"].shape == (3, 24, 16, 2) and inst["bandpass"].shape == (16, 2, 16, 2)
    assert "conj" in str(inst["convention"])


def test_simulator_refuses_to_overwrite_foreign_files(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    stamp = "2026-03-21T05:00:00"
    (incoming / naming.raw_filename(stamp, 0)).write_text("real data, not ours")
    with pytest.raises(FileExistsError, match="not written by the simulator"):
        simulate_night(tmp_path, scale="tiny", timestamp_jitter_s=0.0)


SURVEY = {
    "flux_error": 0.10,
    "position_error_arcsec": 2.0,
    "absent_fraction": 0.10,
    "unlisted_sources": 40,
    "unlisted_flux_jy": [0.0015, 0.02],
    "resolved_fraction": 0.15,
    "resolved_fwhm_arcsec": [20.0, 90.0],
}


def test_a_simulated_survey_lists_the_sky_with_a_surveys_errors(tmp_path):
    """2000 catalogue sources: the list has every one with the stated flux and position
    errors; the sky lacks the absent tenth, has the unlisted faint sources and the resolved
    ones (flux kept); the protected calibrator and variable are on the sky exactly as listed
    in the catalogue. Written as NVSS's CATALOG.FIT, the survey reader reads the list back."""
    rng = np.random.default_rng(1)
    n = 2000
    table = pd.DataFrame(
        {
            "name": [f"S{k}" for k in range(n)],
            "ra_deg": rng.uniform(130, 150, n),
            "dec_deg": rng.uniform(53, 56, n),
            "flux_jy": np.exp(rng.uniform(np.log(0.02), np.log(1.0), n)),
            "spectral_index": -0.7,
        }
    )
    the_sky, listed = simulated_survey.draw(sky.Catalog(table), SURVEY, 54.57, {"S0", "S1"}, seed=7)
    truth = the_sky.table.set_index("name")
    assert list(listed["name"]) == list(table["name"])
    ratio = listed["flux_jy"] / table["flux_jy"] - 1
    assert 0.09 < ratio.std() < 0.11 and abs(ratio.mean()) < 0.01
    d_dec = (listed["dec_deg"] - table["dec_deg"]) * 3600
    d_ra = (listed["ra_deg"] - table["ra_deg"]) * 3600 * np.cos(np.deg2rad(table["dec_deg"]))
    assert 1.9 < d_dec.std() < 2.1 and 1.9 < d_ra.std() < 2.1
    absent = ~table["name"].isin(truth.index)
    assert absent.sum() == round(0.1 * (n - 2)) and not absent[:2].any()
    unlisted = truth.index.str.startswith(simulated_survey.UNLISTED)
    assert unlisted.sum() == 40 and truth.loc[unlisted, "flux_jy"].between(0.0015, 0.02).all()
    resolved = truth[truth["major_arcsec"] > 0]
    assert len(resolved) == round(0.15 * (n - 2)) and resolved["major_arcsec"].between(20, 90).all()
    assert (resolved["minor_arcsec"] <= resolved["major_arcsec"]).all() and (resolved["minor_arcsec"] > 0).all()
    kept = table.set_index("name").loc[resolved.index]
    assert np.array_equal(resolved["flux_jy"], kept["flux_jy"]) and np.array_equal(resolved["ra_deg"], kept["ra_deg"])
    assert (truth.loc[["S0", "S1"], "major_arcsec"] == 0).all()
    assert truth.loc[["S0", "S1"], ["ra_deg", "flux_jy"]].equals(
        table.set_index("name").loc[["S0", "S1"], ["ra_deg", "flux_jy"]]
    )

    surveys.write_nvss(
        tmp_path / "CATALOG.FIT",
        *(listed[c] for c in ("ra_deg", "dec_deg", "flux_jy", *sky.SHAPE_COLUMNS)),
    )
    back = surveys.read_survey("nvss", [str(tmp_path / "CATALOG.FIT")], spectral_index=-0.7).table
    assert np.allclose(back["flux_jy"], listed["flux_jy"], rtol=1e-6)  # resolved ones too (peak x fitted area)
    assert np.allclose(back["dec_deg"], listed["dec_deg"], atol=1e-9)


def test_a_night_with_a_simulated_survey_writes_its_list_and_its_resolved_sky(tmp_path):
    scene, _ = simulate_night(tmp_path, scale="tiny", survey=SURVEY)
    truth = pd.read_csv(tmp_path / "truth/sky.csv")
    catalogue = sky.read_catalog(scene.sim_cfg["sky_catalog"])
    assert (truth["major_arcsec"] > 0).sum() == round(0.15 * (len(catalogue) - 2))  # but the calibrator and variable
    assert truth["name"].str.startswith(simulated_survey.UNLISTED).sum() == 40
    assert scene.sim_cfg["variable"]["source"] in set(truth["name"])
    listed = surveys.read_survey("nvss", [str(tmp_path / "truth" / paths.SIMULATED_SURVEY)]).table
    assert len(listed) == len(catalogue)  # the whole catalogue, calibrator included
    record = json.loads((tmp_path / "truth/simulation.json").read_text())
    assert record["survey"]["file"] == paths.SIMULATED_SURVEY and record["survey"]["flux_error"] == 0.10
