"""The station layout against the facts, the shipped station table against the observatory's,
and antenna names in every spelling."""

import numpy as np
import pytest

from conftest import ROOT, project_config
from contimg import layout

STATION_TABLE = ROOT.parent / "shared/data/DSA110_Station_Coordinates.csv"


@pytest.fixture(scope="module")
def built():
    """The approximate layout built from the config's numbers (instrument.layout)."""
    return layout.layout_from_config({**project_config()["instrument"], "station_table": None})


@pytest.fixture(scope="module")
def shipped():
    """The default: the observatory's positions shipped in config/stations/."""
    return layout.layout_from_config(project_config()["instrument"])


def test_t_array_shape(built):
    assert len(built.names) == 117 and built.names[0] == "DSA-001" and built.names[-1] == "DSA-117"
    ew = built.enu[:51]
    assert np.allclose(ew[:, 1], 0) and ew[0, 0] == 0
    assert ew[-1, 0] == pytest.approx(396.0, abs=1.0)
    spacing = np.diff(ew[:, 0])
    assert np.sum(np.isclose(spacing, 5.75)) == 46
    ns = built.enu[51:102]
    assert np.allclose(ns[:, 0], 198.2)
    assert ns[0, 1] == pytest.approx(8.66) and ns[-1, 1] == pytest.approx(441.9, abs=0.5)
    assert np.allclose(np.diff(ns[:, 1]), 8.66)
    assert built.enu[102, :2].tolist() == [387, -375]


def test_longest_baseline_is_about_2_6_km(built):
    d = np.linalg.norm(built.enu[:, None, :2] - built.enu[None, :, :2], axis=-1)
    assert 2500 < d.max() < 2800


def test_ecef_round_trip(built):
    assert np.allclose(layout.ecef_to_enu(built.ecef, built.site), built.enu, atol=1e-6)
    ref = np.array([built.site.x.value, built.site.y.value, built.site.z.value])
    assert np.allclose(built.ecef[0], ref, atol=1e-6)


def test_the_default_layout_is_the_shipped_station_table(shipped):
    assert shipped.source.endswith("config/stations/dsa110_stations.csv")
    assert shipped.names == [layout.station_name(n) for n in range(1, 118)]
    assert np.allclose(shipped.enu[0], 0, atol=1e-6)  # DSA-001 is the array reference
    assert shipped.enu[116, 2] == pytest.approx(0.0, abs=0.2)  # DSA-117: the site height (curvature: 8 cm)
    assert 1178 - 1182.6 - 1 < shipped.enu[:, 2].min() and shipped.enu[:, 2].max() < 1187 - 1182.6 + 1


@pytest.mark.skipif(not STATION_TABLE.exists(), reason="observatory station table not present")
def test_shipped_table_equals_the_observatorys(shipped):
    observatory = layout.read_station_table(str(STATION_TABLE), shipped.site)
    assert observatory.names == shipped.names
    assert np.abs(observatory.enu - shipped.enu).max() < 1e-6


def test_built_layout_matches_the_station_table(built, shipped):
    table = shipped
    assert table.names == built.names
    horizontal = np.linalg.norm(table.enu[:, :2] - built.enu[:, :2], axis=1)
    assert horizontal[:102].max() < 0.5  # metres, on the two arms
    assert horizontal[102:].max() < 3.0  # outrigger offsets in the facts are rounded
    assert np.abs(table.enu[:, 2]).max() < 10  # heights 1178-1187 m vs the 1182.6 m reference


def test_station_table_errors_name_the_file(tmp_path, built):
    bad = tmp_path / "stations.csv"
    bad.write_text("\n" * 5 + ",DSA-001,north,-118.28,1182\n")
    with pytest.raises(ValueError, match="stations.csv:6"):
        layout.read_station_table(str(bad), built.site)
    ours = tmp_path / "ours.csv"
    ours.write_text(
        "# a comment, with commas\nname,latitude_deg,longitude_deg,height_m\n"
        "DSA-001,37.2333752,-118.2856408,1182.6\npad1,37.2333752,-118.2855760,1182.6\n"
    )
    with pytest.raises(ValueError, match="ours.csv:4: station DSA-001 appears twice"):
        layout.read_station_table(str(ours), built.site)


def test_antennas_are_found_by_name_in_any_spelling(shipped):
    spellings = ["DSA-001", "DSA001", "dsa-1", "pad1", "ant1", "1", "001", b"1", "  DSA-001 "]
    assert {layout.station_key(n) for n in spellings} == {"DSA-001"}
    assert list(shipped.rows_of(["pad117", "DSA-052", "3"])) == [116, 51, 2]
    with pytest.raises(layout.UnknownAntenna, match=r"'DSA-118', 'W200'.*dsa110_stations.csv"):
        shipped.rows_of(["DSA-001", "W200", "DSA-118"])


def test_select_active_spreads_over_the_array(built):
    active = layout.select_active(built, 96)  # rows
    assert len(active) == 96 and active[0] == 0 and active[-1] == 116
    assert np.sum(active >= 102) >= 10  # outriggers kept
