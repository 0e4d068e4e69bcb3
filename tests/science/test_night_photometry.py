"""Photometry of a simulated night against its truth: constant fluxes, positions, the variable
source's light curve, the transient, and no false alarms.

Four demo-scale groups (48 antennas, 128 channels) with noise and the default variable
(+-50 % over 4 groups) and transient (0.25 Jy in group 3), no instrumental corruption
(calibration is tested against its own truth elsewhere). The sky is drawn apart from the
catalogue the images and the photometry use (config/simulated_survey.yaml's
``simulation.survey``: 10 % flux and 2" position errors, no spectral indices, a tenth of the
entries with nothing on the sky, 40 faint sources the survey misses, 15 % of the sources
resolved), which the workflow reads as the NVSS catalogue it is written as: what is measured
must come from the sky. The goals are issue 21's, for point sources; resolved sources (their
NVSS-deconvolved sizes resolved by the image's beam) raise no false alarm.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.coordinates import SkyCoord

from conftest import NOISE_ONLY, RELATIVE, ROOT, convert_group, demo_night, image_of, project_config, typed_settings
from contimg import paths, simulated_survey, sky, surveys
from contimg.photometry import forced, group, lightcurves

N_GROUPS = 4
SURVEY = yaml.safe_load((ROOT / "config/simulated_survey.yaml").read_text())["simulation"]["survey"]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    out = tmp_path_factory.mktemp("night")
    sim = project_config()["simulation"]
    scene, files, cfg = demo_night(
        out, N_GROUPS, corruptions=NOISE_ONLY, variable=sim["variable"], transient=sim["transient"], survey=SURVEY
    )
    catalog = surveys.read_survey("nvss", [str(out / "truth" / paths.SIMULATED_SURVEY)])
    records = []
    for g in range(N_GROUPS):
        ms = convert_group(files, g, out, cfg, aoflagger=False)
        image_of(ms, out, cfg, catalog=catalog)
        records.append(
            group.measure_group(
                out / "images" / f"g{g}",
                out / "photometry" / f"g{g}",
                catalog,
                cfg["imaging"]["pb_cut"],
                typed_settings(cfg, "photometry"),
                2,
                cfg["instrument"]["dish_diameter_m"],
            )
        )
    # as the workflow does: the night's tables gathered (errors with its measured systematic), then built
    nights = out / "lightcurves" / "nights"
    nights.mkdir(parents=True)
    lightcurves.gather(
        [out / "photometry" / f"g{g}.parquet" for g in range(N_GROUPS)],
        [out / "photometry" / f"g{g}-blind.parquet" for g in range(N_GROUPS)],
        nights / "night.parquet",
        nights / "night-new_sources.parquet",
    )
    summary = lightcurves.build(
        [nights / "night.parquet"],
        [nights / "night-new_sources.parquet"],
        out / "lightcurves",
        typed_settings(cfg, "photometry.variability"),
    )
    return out, scene, records, summary, listed_as(catalog, scene.survey_list)


def listed_as(catalog: sky.Catalog, survey_list: pd.DataFrame) -> dict[str, str]:
    """{catalogue name: the simulated source it lists}: the survey file's rows are the
    simulator's list, to the file's precision (names are the survey reader's own)."""
    ours = SkyCoord(catalog.table["ra_deg"], catalog.table["dec_deg"], unit="deg")
    theirs = SkyCoord(survey_list["ra_deg"], survey_list["dec_deg"], unit="deg")
    index, sep, _ = ours.match_to_catalog_sky(theirs)
    assert sep.arcsec.max() < 0.01
    return dict(zip(catalog.names, survey_list["name"].to_numpy()[index]))


def on_sky(scene, rows: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The truth of each row's source (NaN for an entry with nothing on the sky)."""
    return scene.sky.table.set_index("name").reindex(rows["name"].map(names))


def truth_table(scene, rows: pd.DataFrame, names: dict[str, str]) -> np.ndarray:
    """True flux density of each row's source in that row's group, at the row's frequency."""
    index = {name: k for k, name in enumerate(scene.sky.names)}
    k = rows["name"].map(names).map(index).to_numpy(int)
    g = rows["obs"].str[1:].astype(int).to_numpy()
    table = scene.sky.table
    ratio = rows["freq_hz"].to_numpy() / sky.REFERENCE_FREQ_HZ
    return table["flux_jy"].to_numpy()[k] * ratio ** table["spectral_index"].to_numpy()[k] * scene.flux_scale[k, g]


def constant_points(scene, rows: pd.DataFrame, names: dict[str, str]) -> np.ndarray:
    truth = on_sky(scene, rows, names)
    return ((truth["kind"] == "constant") & (truth["major_arcsec"] == 0)).to_numpy()


def image_beam_arcsec(out) -> float:
    """The geometric mean of the first image's restoring beam axes."""
    record = json.loads((out / "images/g0-qa.json").read_text())
    return float(np.sqrt(np.prod(record["beam_arcsec"])))


def near_resolved(scene, where: SkyCoord, beam_arcsec: float) -> np.ndarray:
    """Which of ``where`` lie within a resolved sky source's major axis plus a beam of its centre."""
    resolved = scene.sky.table[scene.sky.table["major_arcsec"] > 0]
    sep = where[:, None].separation(SkyCoord(resolved["ra_deg"], resolved["dec_deg"], unit="deg")[None, :]).arcsec
    return (sep <= resolved["major_arcsec"].to_numpy()[None, :] + beam_arcsec).any(axis=1)


def test_constant_point_sources_have_their_true_flux(night):
    out, scene, records, summary, names = night
    rows = pd.read_parquet(out / RELATIVE.lightcurves("measurements.parquet"))
    rows = rows[constant_points(scene, rows, names) & (rows["snr"] > 20) & (rows["flags"] & forced.UNRELIABLE == 0)]
    assert len(rows) >= 40  # ~15 sources in each of 4 groups
    ratio = rows["flux_jy"] / truth_table(scene, rows, names)
    assert abs(np.median(ratio) - 1) < 0.02, np.median(ratio)
    worst = rows.assign(ratio=ratio).loc[(ratio - 1).abs().nlargest(3).index, ["obs", "name", "pb", "snr", "ratio"]]
    assert ((ratio - 1).abs() <= 0.05).mean() >= 0.9, worst


def test_forced_flux_errors_describe_the_scatter(night):
    """The pulls (measured - true) / error of SNR > 20 constant point sources have a robust
    width within 0.8-1.2 and a median within 0.5: the errors are neither under- nor overstated
    (with the flux-scale systematic the night measures on itself: contimg.photometry.systematic)."""
    out, scene, records, summary, names = night
    rows = pd.read_parquet(out / RELATIVE.lightcurves("measurements.parquet"))
    rows = rows[constant_points(scene, rows, names) & (rows["snr"] > 20) & (rows["flags"] & forced.UNRELIABLE == 0)]
    pull = (rows["flux_jy"] - truth_table(scene, rows, names)) / rows["flux_err_jy"]
    width = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.8 <= width <= 1.2 and abs(np.median(pull)) < 0.5, (width, np.median(pull))


def test_light_curve_positions_are_the_true_ones(night):
    """Within a tenth of the beam, though the catalogue's positions are 2" (rms) off."""
    out, scene, records, summary, names = night
    table = pd.read_parquet(out / RELATIVE.lightcurves("sources.parquet"))
    table = table[constant_points(scene, table, names) & (table["max_snr"] > 20)]
    truth = on_sky(scene, table, names)
    offset = SkyCoord(table["ra_deg"], table["dec_deg"], unit="deg").separation(
        SkyCoord(truth["ra_deg"].to_numpy(), truth["dec_deg"].to_numpy(), unit="deg")
    )
    beam = image_beam_arcsec(out)
    assert len(table) >= 10 and (offset.arcsec <= beam / 10).mean() >= 0.9, np.sort(offset.arcsec).round(2)


def test_times_are_the_observations_mid_times(night):
    out, scene, records, summary, names = night
    rows = pd.read_parquet(out / RELATIVE.lightcurves("measurements.parquet"))
    for g, record in enumerate(records):
        mid = scene.groups[g].times.mjd.mean()
        assert abs(record["mjd"] - mid) < 1e-6  # to 0.1 s
        assert np.allclose(rows.loc[rows["obs"] == f"g{g}", "mjd"], record["mjd"])


def test_the_variable_source_is_found_and_follows_the_truth(night):
    out, scene, records, summary, names = night
    (variable,) = [n for n, truth in names.items() if truth == scene.sim_cfg["variable"]["source"]]
    assert variable in summary["variable"]
    rows = pd.read_parquet(out / RELATIVE.lightcurves("measurements.parquet"))
    curve = rows[rows["name"] == variable]
    assert len(curve) >= N_GROUPS - 1 and (curve["flags"] == 0).all()  # outside the image in group 0
    pull = (curve["flux_jy"] - truth_table(scene, curve, names)) / curve["flux_err_jy"]
    assert (pull.abs() < 3).all(), pull.round(2).tolist()
    metrics = pd.read_parquet(out / RELATIVE.lightcurves("sources.parquet")).set_index("name").loc[variable]
    assert abs(metrics["m"]) > 0.5 and abs(metrics["vs"]) > 10  # 1.5x -> 0.5x of the mean


def test_no_constant_point_source_or_empty_entry_is_called_variable(night):
    """At most 1 % of the constant point sources and of the entries with nothing on the sky
    (whose forced photometry is noise, or a hole had the entry been subtracted at its flux)."""
    out, scene, records, summary, names = night
    table = pd.read_parquet(out / RELATIVE.lightcurves("sources.parquet"))
    kind = on_sky(scene, table, names)["kind"].fillna("absent").to_numpy()
    checked = table[constant_points(scene, table, names) | (kind == "absent")]
    assert len(checked) >= 20 and (kind == "absent").sum() >= 2
    assert checked["variable"].sum() <= 0.01 * len(checked), checked.loc[checked["variable"], ["name", "reason"]]


def test_the_transient_is_a_new_source_in_its_group_only(night):
    out, scene, records, summary, names = night
    found = pd.read_parquet(out / RELATIVE.lightcurves("new_sources.parquet"))
    trn = project_config()["simulation"]["transient"]
    where = SkyCoord(found["ra_deg"], found["dec_deg"], unit="deg")
    near = where.separation(SkyCoord(trn["ra_deg"], trn["dec_deg"], unit="deg")).arcsec < 60  # ~ one beam major axis
    # aegean may fit the island with more than one component (seen: 0.17 + 0.09 Jy at 280 and
    # 144 sigma); the forced flux at the most significant one is the source's
    assert set(found.loc[near, "obs"]) == {f"g{trn['group_index']}"}
    hit = found[near].sort_values("significance").iloc[-1]
    assert hit["significance"] > 50
    expected = trn["flux_jy"] * (hit["freq_hz"] / 1.4e9) ** trn["spectral_index"]
    assert abs(hit["forced_flux_jy"] / expected - 1) < 0.05, hit
    # the sources the survey misses are new to it; any other candidate is false: at most one
    unlisted = scene.sky.table[scene.sky.table["name"].str.startswith(simulated_survey.UNLISTED)]
    _, sep, _ = where.match_to_catalog_sky(SkyCoord(unlisted["ra_deg"], unlisted["dec_deg"], unit="deg"))
    false = ~near & (sep.arcsec > 10)
    assert false.sum() <= 1, found.loc[false, ["obs", "ra_deg", "dec_deg", "flux_jy", "significance"]]


def test_resolved_sources_raise_no_false_alarms(night):
    """Clean leaves a 61" x 45" 0.48 Jy Gaussian's extended emission in the residual as 15-20
    sigma lumps that aegean fits as point-like islands 40-50" from its centre: they are that
    source's (no new source near a resolved one), its forced position stays the catalogue's and
    its rows are flagged resolved (before: 4 false new sources in 3 groups, and the forced
    position moving between the catalogue's and a lump's made it a variable)."""
    out, scene, records, summary, names = night
    table = pd.read_parquet(out / RELATIVE.lightcurves("sources.parquet"))
    resolved = (on_sky(scene, table, names)["major_arcsec"] > 0).to_numpy()
    found = pd.read_parquet(out / RELATIVE.lightcurves("new_sources.parquet"))
    where = SkyCoord(found["ra_deg"], found["dec_deg"], unit="deg")
    assert resolved.sum() >= 3
    assert not table.loc[resolved, "variable"].any() and not near_resolved(scene, where, image_beam_arcsec(out)).any()
    rows = pd.read_parquet(out / RELATIVE.lightcurves("measurements.parquet"))
    rows = rows[(on_sky(scene, rows, names)["major_arcsec"] > 0).to_numpy()]
    assert ((rows["flags"] & forced.FLAG_RESOLVED) > 0).all() and (rows["position_from"] == "catalog").all()
