"""The converter and the inventory on every legal form of the same UVH5 data.

Each variant is the same simulated group written another way (simulation.file_format): by
the DSA-110 correlator (0-based numbers, names '1'..'117', no phase-centre catalogue, the
old spectral-window axis), by another pyuvdata writer (baseline-major rows, float64 uvw,
ascending channels, one ICRS phase centre per integration), with rows stored as (ant2,
ant1), with four polarisations. pyuvdata itself reads every variant back to the same
visibilities (so the files really differ only in form), and the converter must write the
same Measurement Set for each, to float32 precision.
"""

import copy
import shutil
import warnings

import h5py
import numpy as np
import pytest
from casacore.tables import table
from pyuvdata import UVData

from conftest import FILE_FORMATS, project_config, simulate_night
from contimg import convert, inventory, layout

COLUMNS = ("DATA", "FLAG", "WEIGHT", "UVW", "ANTENNA1", "ANTENNA2", "TIME")


def one_group(out, file_format=None):
    """The first group of the tiny night (every corruption on), written in ``file_format``."""
    cfg = project_config()
    scales = {**cfg["simulation"]["scales"], "tiny": {**cfg["simulation"]["scales"]["tiny"], "n_groups": 1}}
    return simulate_night(
        out, scale="tiny", scales=scales, variable=None, transient=None, file_format=file_format or {}
    )


def convert_ms(files, out):
    cfg = project_config()
    ms = out / "g.ms"
    convert.convert_group(
        files,
        ms,
        out / "g.flags.json",
        layout.layout_from_config(cfg["instrument"]),
        {**cfg["conversion"], "aoflagger": False, "workers": 1},
        5800.0,
        "g",
    )
    with table(str(ms), ack=False) as main:
        columns = {c: main.getcol(c) for c in COLUMNS}
    with table(f"{ms}/ANTENNA", ack=False) as ant:
        columns["NAMES"], columns["POSITION"] = list(ant.getcol("NAME")), ant.getcol("POSITION")
    return columns


def read_uvdata(path) -> UVData:
    uvd = UVData()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uvd.read(str(path), file_type="uvh5", run_check=False)
    return uvd


def visibilities_by_name(uvd: UVData) -> dict:
    """{(time index, station a, station b, pol): visibility} with a < b by station name: the
    content of a file, independent of its form (pyuvdata's reading of it)."""
    names = dict(zip(uvd.telescope.antenna_numbers, [layout.station_key(n) for n in uvd.telescope.antenna_names]))
    times = np.unique(uvd.time_array)
    out = {}
    for blt in range(0, uvd.Nblts, 7):  # a sample of rows
        a, b = names[uvd.ant_1_array[blt]], names[uvd.ant_2_array[blt]]
        t = int(np.searchsorted(times, uvd.time_array[blt]))
        for k, pol in enumerate(uvd.polarization_array):
            if pol not in (-5, -6):
                continue
            value = uvd.data_array[blt, :, k]
            order = np.argsort(uvd.freq_array.ravel())
            out[(t, *sorted((a, b)), int(pol))] = value[order] if a <= b else np.conj(value[order])
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("format_reference")
    _, files = one_group(out)
    return files, convert_ms(files, out)


@pytest.mark.parametrize("name", list(FILE_FORMATS))
def test_every_form_gives_the_same_measurement_set(name, reference, tmp_path):
    ref_files, ref = reference
    _, files = one_group(tmp_path, FILE_FORMATS[name])
    # the files differ in form only: pyuvdata reads the same visibilities from both
    theirs, ours = visibilities_by_name(read_uvdata(files[5])), visibilities_by_name(read_uvdata(ref_files[5]))
    common = set(theirs) & set(ours)
    assert len(common) > 20
    assert max(np.abs(theirs[k] - ours[k]).max() for k in common) < 1e-3  # Jy, of ~100 Jy autos and ~1 Jy cross
    got = convert_ms(files, tmp_path)
    scale = np.abs(ref["DATA"]).max()
    assert np.abs(got["DATA"] - ref["DATA"]).max() < 2e-6 * scale
    for column in ("FLAG", "WEIGHT", "ANTENNA1", "ANTENNA2", "TIME", "NAMES"):
        assert np.array_equal(got[column], ref[column]), column
    assert np.abs(got["UVW"] - ref["UVW"]).max() < 1e-6 and np.allclose(got["POSITION"], ref["POSITION"])


def test_variants_really_are_written_in_their_form(tmp_path):
    _, files = one_group(tmp_path, FILE_FORMATS["the DSA-110 correlator"])
    with h5py.File(files[0], "r") as handle:
        header = handle["Header"]
        assert header["antenna_numbers"][()].min() == 0
        assert header["antenna_names"][0] == b"1"
        assert "phase_center_catalog" not in header and header["phase_type"][()] == b"drift"
        assert handle["Data/visdata"].ndim == 4 and handle["Data/visdata"].shape[1] == 1
        assert list(header["polarization_array"][()]) == [-5, -7, -8, -6]
        assert header["uvw_array"].dtype == np.float32


def rewrite(path, **edits):
    """Change header datasets of a file in place."""
    with h5py.File(path, "r+") as handle:
        for name, value in edits.items():
            del handle[name]
            handle[name] = value


@pytest.fixture(scope="module")
def correlator_night(tmp_path_factory):
    out = tmp_path_factory.mktemp("correlator_form")
    _, files = one_group(out, FILE_FORMATS["the DSA-110 correlator"])
    return files


def test_unknown_and_repeated_antenna_names_name_the_file_and_antenna(correlator_night, tmp_path):
    files = [shutil.copy(f, tmp_path / f.name) for f in correlator_night]
    cfg = project_config()
    stations = layout.layout_from_config(cfg["instrument"])
    with h5py.File(files[0], "r") as handle:
        names = handle["Header/antenna_names"][()]
    renamed = names.astype("S8")  # the correlator writes 4-byte names
    renamed[0] = b"DSA-999"  # station 1 carries data in the tiny night
    rewrite(files[0], **{"Header/antenna_names": renamed})
    settings = {**cfg["conversion"], "aoflagger": False, "workers": 1}

    def convert_to(name):
        paths = [type(tmp_path)(f) for f in files]
        convert.convert_group(
            paths, tmp_path / f"{name}.ms", tmp_path / f"{name}.json", stations, settings, 5800.0, name
        )

    with pytest.raises(
        convert.ConversionError, match=rf"{files[0].name}.*'DSA-999'.*not in the station layout .*dsa110_stations.csv"
    ):
        convert_to("a")
    repeated = names.astype("S8")
    repeated[1] = b"pad1"  # the spelling of station 1 given to a second antenna
    rewrite(files[0], **{"Header/antenna_names": repeated})
    with pytest.raises(convert.ConversionError, match=rf"{files[0].name}.*DSA-001 is given to antennas 0 and 1"):
        convert_to("b")
    row = inventory.read_header(type(tmp_path)(files[0]))
    assert not row["readable"] and "DSA-001 is given to antennas 0 and 1" in row["reason"]


def test_missing_pointing_declination_is_a_clear_error(correlator_night, tmp_path):
    files = [type(tmp_path)(shutil.copy(f, tmp_path / f.name)) for f in correlator_night]
    with h5py.File(files[0], "r+") as handle:
        del handle["Header/extra_keywords/phase_center_dec"]
    cfg = project_config()
    with pytest.raises(convert.ConversionError, match=rf"{files[0].name}.*phase_center_dec"):
        convert.convert_group(
            files,
            tmp_path / "c.ms",
            tmp_path / "c.json",
            layout.layout_from_config(cfg["instrument"]),
            {**cfg["conversion"], "aoflagger": False, "workers": 1},
            5800.0,
            "c",
        )
    assert "phase_center_dec" in inventory.read_header(files[0])["reason"]


def test_inventory_reads_every_form(correlator_night):
    row = inventory.read_header(correlator_night[0])
    assert row["readable"], row["reason"]
    cfg = copy.deepcopy(project_config())
    assert row["n_freqs"] == cfg["simulation"]["scales"]["tiny"]["channels_per_subband"]
    assert row["stations"].startswith("DSA-001 DSA-009") and row["stations"].endswith("DSA-117")


@pytest.mark.parametrize("legacy", [False, True], ids=["pyuvdata 3 catalogue", "legacy 'phased' header"])
def test_a_group_pyuvdata_phased_to_a_fixed_position_gives_the_same_ms(reference, tmp_path, legacy):
    """Files another tool re-phased (pyuvdata's `phase`) to one fixed ICRS position, written with a sidereal catalogue entry or with the header of
    pyuvdata < 2.2 (phase_type 'phased', phase_center_ra/dec): the converter undoes that
    phasing and gives the reference MS."""
    ref_files, ref = reference
    files = []
    for path in ref_files:
        uvd = read_uvdata(path)
        uvd.uvw_array = uvd.uvw_array.astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uvd.phase(lon=np.deg2rad(137.2), lat=np.deg2rad(54.9), cat_name="fixed")
        out = tmp_path / path.name
        uvd.write_uvh5(str(out), run_check=False)
        if legacy:
            with h5py.File(out, "r+") as handle:
                header = handle["Header"]
                for name in ("phase_center_catalog", "phase_center_id_array"):
                    del header[name]
                header["phase_type"] = np.bytes_("phased")
                header["phase_center_ra"], header["phase_center_dec"] = np.deg2rad(137.2), np.deg2rad(54.9)
                header["phase_center_frame"], header["phase_center_epoch"] = np.bytes_("icrs"), 2000.0
        files.append(out)
    got = convert_ms(files, tmp_path)
    # pyuvdata's phasing and ours differ by 30 micron of w on 2.6 km (1e-3 rad, 2 mas on the sky)
    cross = ref["ANTENNA1"] != ref["ANTENNA2"]
    phase = np.angle(got["DATA"][cross] * np.conj(ref["DATA"][cross]))
    assert np.abs(phase).max() < 2e-3
    assert np.allclose(np.abs(got["DATA"]), np.abs(ref["DATA"]), rtol=1e-5, atol=1e-5 * np.abs(ref["DATA"]).max())
    assert np.array_equal(got["FLAG"], ref["FLAG"]) and np.abs(got["UVW"] - ref["UVW"]).max() < 1e-6
