"""Survey catalogues as distributed -> the workflow's catalogue; the real calibrators; no
simulated source in a real-data run.

Each survey file here is written in its survey's published layout (column names, units,
file type) with made-up sources whose 1.4 GHz fluxes are worked out by hand in the test.
"""

import copy
import subprocess
import sys

import numpy as np
import pytest
import yaml
from astropy.table import Table

from conftest import ROOT, from_the_correlator, nvss_catalog
from contimg import config as cfgmod
from contimg import sky, surveys

ALPHA = -0.7


def nvss_file(path):
    beam = 45 / 3600
    return nvss_catalog(path, [137.0, 137.5, 200.0], [54.6, 55.0, 10.0], [0.1, 0.05, 1.0], [beam, 2 * beam, beam])


def test_nvss_fluxes_are_integrated_from_the_peak_and_the_fitted_axes(tmp_path):
    out = tmp_path / "survey.csv"
    assert surveys.main(["nvss", str(nvss_file(tmp_path / "CATALOG.FIT")), "-o", str(out), "--dec", "55"]) == 0
    catalog = sky.read_catalog(str(out))
    table = catalog.table.set_index("name")
    assert list(table.index) == ["NVSS J090800.00+543600.0", "NVSS J091000.00+550000.0"]  # dec 10 left out
    assert table["flux_jy"].to_numpy() == pytest.approx([0.1, 0.1], rel=1e-9)  # 0.05 Jy/beam over two beams
    assert (table["spectral_index"] == ALPHA).all()
    # deconvolved: a fit as wide as the beam is a point; 90" fitted -> sqrt(90^2 - 45^2)
    assert table["major_arcsec"].to_numpy() == pytest.approx([0.0, np.sqrt(90**2 - 45**2)])
    assert (table["minor_arcsec"] == 0).all()
    assert list(catalog.resolved(30.0)) == [False, True]
    assert "nvss" in out.read_text().splitlines()[0]  # provenance first


def test_first_drops_likely_sidelobes_and_reads_milli_jansky(tmp_path):
    path = tmp_path / "first_14dec17.fits"
    Table(
        {
            "RA": [150.0, 150.1],
            "DEC": [30.0, 30.1],
            "SIDEPROB": [0.01, 0.9],
            "FPEAK": [20.0, 5.0],
            "FINT": [25.0, 6.0],
            "RMS": [0.15, 0.15],
            "MAJOR": [3.0, 0.0],
            "MINOR": [1.0, 0.0],
            "PA": [10.0, 0.0],
        }
    ).write(path, format="fits")
    catalog = surveys.read_survey("first", [path])
    assert len(catalog) == 1 and catalog.table["flux_jy"].iloc[0] == pytest.approx(0.025)
    shape = catalog.table[list(sky.SHAPE_COLUMNS)].iloc[0].tolist()
    assert shape == [3.0, 1.0, 10.0]  # FIRST's deconvolved MAJOR, MINOR (arcsec), PA


def test_vlass_keeps_components_cirada_trusts_and_moves_them_from_3_ghz(tmp_path):
    path = tmp_path / "CIRADA_VLASS1QL_table1_components.csv"
    components = Table(
        {
            "Component_name": ["VLASS1QLCIR J1.1", "VLASS1QLCIR J1.2", "VLASS1QLCIR J1.3", "VLASS1QLCIR J1.4"],
            "RA": [10.0, 10.1, 10.2, 10.3],
            "DEC": [-20.0, -20.1, -20.2, -20.3],
            "Total_flux": [10.0, 10.0, 10.0, 10.0],
            "Peak_flux": [8.0, 8.0, 8.0, 8.0],
            "Duplicate_flag": [0, 1, 2, 0],
            "Quality_flag": [0, 4, 0, 1],
        }
    )
    components.write(path, format="ascii.csv")
    catalog = surveys.read_survey("vlass", [path])
    assert len(catalog) == 2  # the second copy of a duplicate and a flagged fit are dropped
    assert catalog.table["flux_jy"].to_numpy() == pytest.approx(0.010 * (1.4 / 3.0) ** ALPHA)
    scaled = surveys.read_survey("vlass", [path], spectral_index=-1.0, flux_scale=1.1)
    assert scaled.table["flux_jy"].to_numpy() == pytest.approx(0.011 * (1.4 / 3.0) ** -1.0)
    assert (catalog.table[list(sky.SHAPE_COLUMNS)] == 0).all(axis=None)  # no DC_Maj, DC_Min, DC_PA: points
    components["DC_Maj"], components["DC_Min"], components["DC_PA"] = [3.0, 2.0, 0.0, 0.0], 1.5, 170.0
    components.write(path, format="ascii.csv", overwrite=True)
    sized = surveys.read_survey("vlass", [path]).table
    assert sized["major_arcsec"].tolist() == [3.0, 2.0] and (sized["minor_arcsec"] == 1.5).all()
    assert (sized["pa_deg"] == 170.0).all()


def test_racs_component_lists_as_casda_writes_them(tmp_path):
    path = tmp_path / "RACS_1237+12A_components.xml"
    table = Table(
        {
            "col_component_name": ["J123700+120000", "J123800+121000"],
            "col_ra_deg_cont": [189.25, 189.5],
            "col_dec_deg_cont": [12.0, 12.17],
            "col_flux_peak": [90.0, 9.0],
            "col_flux_int": [100.0, 10.0],
            "col_maj_axis_deconv": [12.5, 0.0],
            "col_min_axis_deconv": [8.0, 0.0],
            "col_pos_ang_deconv": [45.0, 0.0],
        }
    )
    table.write(path, format="votable")
    catalog = surveys.read_survey("racs", [path])
    assert catalog.table["flux_jy"].to_numpy() == pytest.approx([0.1, 0.01] * np.array((1.4 / 0.8875) ** ALPHA))
    assert catalog.table["dec_deg"].tolist() == [12.0, 12.17]
    assert catalog.table["major_arcsec"].tolist() == [12.5, 0.0] and catalog.table["pa_deg"].tolist() == [45.0, 0.0]


def test_a_file_of_another_layout_is_refused_naming_file_and_column(tmp_path):
    wrong = nvss_file(tmp_path / "CATALOG.FIT")
    done = subprocess.run(
        [sys.executable, "-m", "contimg.surveys", "first", str(wrong), "-o", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "CATALOG.FIT" in done.stderr and "no column 'RA'" in done.stderr
    assert not (tmp_path / "x.csv").exists()
    calibrators = tmp_path / "calibrators.csv"
    calibrators.write_text("name,ra_deg,dec_deg,flux_jy,spectral_index\n3C286,202.78,30.51,15.0,-0.5\n")
    with pytest.raises(surveys.SurveyError, match="calibrators.csv: not the perley-butler-2017 layout.*ra_hms"):
        surveys.read_survey("perley-butler-2017", [calibrators])


def test_declination_strips_and_flux_limit(tmp_path):
    path = tmp_path / "nvss.fits"
    decs = np.arange(-30.0, 90.0, 1.0)
    Table(
        {
            "RA(2000)": np.full(decs.size, 30.0),
            "DEC(2000)": decs,
            "PEAK INT": np.where(decs % 2 == 0, 0.1, 0.001),
            "MAJOR AX": np.full(decs.size, 45 / 3600),
            "MINOR AX": np.full(decs.size, 45 / 3600),
        }
    ).write(path, format="fits")
    kept = surveys.make("nvss", [path], str(tmp_path / "out.csv"), [16, 54], radius_deg=3, min_flux_jy=0.005)
    assert sorted(kept.table["dec_deg"]) == [14, 16, 18, 52, 54, 56]


PUBLISHED = ROOT / "config/catalogs/perley_butler_2017.csv"


def test_shipped_calibrators_are_perley_butler_2017_across_the_band():
    """config/catalogs/calibrators.csv against the published polynomials evaluated directly
    (nu in GHz, no re-referencing) at the band's edges and centre."""
    import pandas as pd

    shipped = sky.read_catalog(str(ROOT / "config/catalogs/calibrators.csv"))
    published = pd.read_csv(PUBLISHED, comment="#").set_index("name")
    freqs = np.array([1.28e9, 1.4e9, 1.405e9, 1.53e9])
    ours = dict(zip(shipped.names, shipped.flux_at(freqs)))
    assert set(ours) == set(published.index)
    for name, row in published.iterrows():
        x = np.log10(freqs / 1e9)
        expected = 10 ** sum(row[f"a{k}"] * x**k for k in range(6))
        assert ours[name] == pytest.approx(expected, rel=1e-4), name
    assert ours["3C286"][1] == pytest.approx(15.0, rel=0.02)  # the VLA's flux standard, ~15 Jy at 1.4 GHz
    regenerated = surveys.read_survey("perley-butler-2017", [PUBLISHED]).table.set_index("name")
    assert regenerated.loc[shipped.names, ["ra_deg", "dec_deg"]].to_numpy() == pytest.approx(
        shipped.table[["ra_deg", "dec_deg"]].to_numpy(), abs=1e-6
    )


def real_data_config(changes: dict | None = None) -> dict:
    """config.yaml with config/real_data.yaml laid over it (as --configfile does), keys changed."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    for section, values in yaml.safe_load((ROOT / "config/real_data.yaml").read_text()).items():
        config[section].update(values)
    for (section, key), value in (changes or {}).items():
        config[section][key] = value
    return copy.deepcopy(config)


def validated(config):
    import os

    here = os.getcwd()
    os.chdir(ROOT)  # the config's paths are relative to the project
    try:
        return cfgmod.validate(config, ROOT / "config/schema.yaml")
    finally:
        os.chdir(here)


def test_no_simulated_source_reaches_a_real_data_run(tiny_night, tmp_path):
    """Files the simulator did not write in paths.incoming and simulation.enabled false: a
    catalogue or calibrator list holding a source of the embedded simulated night (same name
    and position) stops the run, naming the key; the simulator's own files do not."""
    night, scene, files = tiny_night
    real_files = str(from_the_correlator(files[:1], tmp_path / "incoming"))
    here = {("paths", "incoming"): real_files}
    real = validated(real_data_config(here))
    assert cfgmod.calibrator_files(real) == ["config/catalogs/calibrators.csv"]
    simulated = sky.read_catalog(
        [str(ROOT / "config/catalogs/sky.csv"), str(ROOT / "config/catalogs/simulated_calibrators.csv")]
    )
    real_cals = sky.read_catalog(str(ROOT / "config/catalogs/calibrators.csv"))
    assert not sky.simulated_sources(real_cals, simulated) and not any(n.startswith("SIM") for n in real_cals.names)
    for key in [("calibration", "field_catalog"), ("imaging", "catalog"), ("photometry", "catalog")]:
        with pytest.raises(cfgmod.ConfigError, match=rf"'{'.'.join(key)}'.*SIM .*holds real data"):
            validated(real_data_config({**here, key: "config/catalogs/sky.csv"}))
    # the demo's config with only the simulation switched off: its simulated calibrator is refused
    demo = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    demo["simulation"]["enabled"] = False
    demo["paths"]["incoming"] = real_files
    demo.update(calibration={"field_catalog": "config/catalogs/calibrators.csv"})
    demo.update(
        imaging={"catalog": "config/catalogs/calibrators.csv"},
        photometry={"catalog": "config/catalogs/calibrators.csv"},
    )
    with pytest.raises(cfgmod.ConfigError, match="'simulation.calibrator_catalog'.*SIM CAL J0907"):
        validated(copy.deepcopy(demo))
    demo["paths"]["incoming"] = str(night / "incoming")  # the simulator's files: its sky may meet them
    assert (
        "SIM CAL J0907+5440"
        in sky.read_catalog([str(ROOT / p) for p in cfgmod.calibrator_files(validated(demo))]).names
    )


def test_survey_keys_need_a_survey_format():
    with pytest.raises(
        cfgmod.ConfigError, match="'calibration.field_catalog' is 'survey' but survey.format is not set"
    ):
        validated(real_data_config({("survey", "format"): None}))
