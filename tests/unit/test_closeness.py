"""Two runs' versions of a product: equal to WSClean's last float32 places, and no further."""

import json
import sqlite3

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from contimg import closeness


def fits_pair(tmp_path, change):
    data = np.random.default_rng(1).normal(0, 0.01, (64, 64)).astype(np.float32)
    data[10, 10] = 0.12
    fits.PrimaryHDU(data).writeto(tmp_path / "b.fits")
    fits.PrimaryHDU(change(data.copy())).writeto(tmp_path / "a.fits")
    return tmp_path / "a.fits", tmp_path / "b.fits"


def test_an_image_a_few_float32_units_apart_is_within_tolerance(tmp_path):
    a, b = fits_pair(tmp_path, lambda d: np.nextafter(d, np.float32(1), dtype=np.float32))  # 1 ulp everywhere
    assert closeness.within_tolerance(a, b) is not None


@pytest.mark.parametrize("change", [lambda d: d * 1.0001, lambda d: np.where(d > 0.1, np.nan, d)])
def test_an_image_with_a_real_change_differs(tmp_path, change):
    a, b = fits_pair(tmp_path, change)  # 1e-4 of a source's flux; a pixel blanked
    assert closeness.within_tolerance(a, b) is None


def write_json(path, record):
    path.write_text(json.dumps(record))
    return path


def test_qa_records_differ_in_their_sixth_decimals_only(tmp_path):
    base = {
        "rms_jy": 0.000123,
        "snr": 4.271842,
        "n_sources": 14,
        "verdict": "pass",
        "reasons": [],
        "timing_s": {"a": 1},
    }
    b = write_json(tmp_path / "b.json", base)
    near = write_json(tmp_path / "a.json", {**base, "rms_jy": 0.000124, "snr": 4.27184, "timing_s": {"a": 9}})
    assert closeness.within_tolerance(near, b) is not None  # a rounding step of the 6th decimal; timings ignored
    for change in ({"n_sources": 15}, {"verdict": "fail"}, {"reasons": ["x"]}, {"snr": 4.28}, {"extra": 1}):
        other = write_json(tmp_path / "c.json", {**base, **change})
        assert closeness.within_tolerance(other, b) is None, change


def test_a_thumbnail_one_grey_level_apart_is_within_tolerance(tmp_path):
    grey = (np.arange(64 * 64).reshape(64, 64) % 200).astype(np.uint8)  # 8-bit levels, as a PNG holds them
    for name, levels in (("b", grey), ("a", grey + (grey > 100)), ("c", grey + 13 * (grey > 100))):
        plt.imsave(tmp_path / f"{name}.png", np.repeat(levels[..., None], 3, axis=2).astype(np.uint8))
    assert closeness.within_tolerance(tmp_path / "a.png", tmp_path / "b.png") is not None
    assert closeness.within_tolerance(tmp_path / "c.png", tmp_path / "b.png") is None


def index(path, rms, status="complete"):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE groups (group_id INTEGER PRIMARY KEY, obs TEXT, status TEXT)")
    conn.execute("CREATE TABLE sources (source_id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TABLE images (group_id INTEGER, rms_jy REAL, n_sources INTEGER)")
    conn.executemany("INSERT INTO groups VALUES (?, ?, ?)", [(1, "g1", status), (2, "g2", "complete")])
    conn.executemany("INSERT INTO images VALUES (?, ?, ?)", [(1, rms, 14), (2, None, 3)])
    conn.commit()
    conn.close()
    return path


def test_the_index_compares_row_by_row(tmp_path):
    b = index(tmp_path / "b.sqlite", 0.000123)
    assert closeness.within_tolerance(index(tmp_path / "a.sqlite", 0.000124), b) is not None
    assert closeness.within_tolerance(index(tmp_path / "c.sqlite", 0.00015), b) is None
    assert closeness.within_tolerance(index(tmp_path / "d.sqlite", 0.000123, "failed"), b) is None


def test_tables_compare_their_numbers_and_their_text(tmp_path):
    table = pd.DataFrame({"name": ["a", "b"], "flux_jy": [0.1, 0.2]})
    table.to_parquet(tmp_path / "b.parquet")
    table.assign(flux_jy=[0.1, 0.2 + 1e-9]).to_parquet(tmp_path / "a.parquet")
    table.assign(name=["a", "c"]).to_parquet(tmp_path / "c.parquet")
    assert closeness.within_tolerance(tmp_path / "a.parquet", tmp_path / "b.parquet") is not None
    assert closeness.within_tolerance(tmp_path / "c.parquet", tmp_path / "b.parquet") is None
    (tmp_path / "x.txt").write_text("same")
    assert closeness.within_tolerance(tmp_path / "x.txt", tmp_path / "x.txt") is None  # no numbers to compare
