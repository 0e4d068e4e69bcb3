"""The station layout against the facts, and against the observatory's station table."""

import numpy as np
import pytest

from contimg import layout
from conftest import ROOT, project_config

STATION_TABLE = ROOT.parent / "shared/data/DSA110_Station_Coordinates.csv"


@pytest.fixture(scope="module")
def built():
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


@pytest.mark.skipif(not STATION_TABLE.exists(), reason="observatory station table not present")
def test_built_layout_matches_the_station_table(built):
    table = layout.read_station_table(str(STATION_TABLE), built.site)
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


def test_select_active_spreads_over_the_array(built):
    active = layout.select_active(built, 96)
    assert len(active) == 96 and active[0] == 1 and active[-1] == 117
    assert np.sum(active > 102) >= 10  # outriggers kept
