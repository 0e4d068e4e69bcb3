"""Cut-out sheets (contimg.photometry.cutouts): each tile shows the image around its own
position, north up, with the image's edge marked; tiles lie where the browser looks for them."""

import numpy as np
import pandas as pd
from PIL import Image

from contimg.photometry import cutouts
from contimg.photometry.group import _number_cutouts

RMS = 1e-3
CENTRE = (cutouts.TILE - 1) // 2


def sky(shape=(300, 400), sources=()):
    """Noise of RMS with point sources (x, y, peak) three pixels wide."""
    rng = np.random.default_rng(3)
    image = rng.normal(0, RMS, shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for x, y, peak in sources:
        image += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    return image


def darkest(tile: np.ndarray) -> tuple[int, int]:
    """(column, row) of the darkest pixel of a tile's content (PNG order: row 0 at the top)."""
    grey = tile[: cutouts.TILE - 1, : cutouts.TILE - 1].astype(int).sum(axis=2)
    row, col = np.unravel_index(np.argmin(grey), grey.shape)
    return int(col), int(row)


def test_a_tile_is_centred_on_its_source_north_up():
    image = sky(sources=[(200, 150, 0.05), (212, 150, 0.2), (200, 162, 0.2)])
    rms = np.full(image.shape, RMS)
    centred = cutouts.tile(image, rms, 200.3, 149.8)
    assert centred.shape == (cutouts.TILE, cutouts.TILE, 3)
    assert (centred[:, -1] == cutouts.SEPARATOR).all() and (centred[-1] == cutouts.SEPARATOR).all()
    without = image.copy()
    without[140:172, 190:206] = 0  # the centre and north sources hidden: +x stays to the right
    assert darkest(cutouts.tile(without, rms, 200, 150)) == (CENTRE + 12, CENTRE)
    without = image.copy()
    without[140:158, 190:225] = 0  # the centre and east sources hidden: +y (north) is up
    assert darkest(cutouts.tile(without, rms, 200, 150)) == (CENTRE, CENTRE - 12)
    grey = cutouts.tile(sky(sources=[(200, 150, 0.05)]), rms, 200, 150)[: cutouts.TILE - 1, : cutouts.TILE - 1]
    assert (grey[CENTRE, CENTRE] < 40).all()  # a 50-sigma source is dark
    noise = np.median(grey[:10, 20:40, 0])  # the noise, linear at the given rms, is a visible grey
    assert 80 < noise < 200
    assert (grey[CENTRE, : cutouts.TICK_LENGTH] == cutouts.TICK).all()  # ticks point at the centre


def test_beyond_the_edge_is_marked_and_the_stretch_follows_the_rms_map():
    image = sky()
    rms = np.full(image.shape, RMS)
    corner = cutouts.tile(image, rms, 5, 5)[: cutouts.TILE - 1, : cutouts.TILE - 1]
    off, tick = ((corner == colour).all(axis=2) for colour in (cutouts.OFF_IMAGE, cutouts.TICK))
    # the image starts 26 pixels left of and below the centre: left columns and bottom rows are off it
    assert (off | tick)[:, : CENTRE - 5].all() and (off | tick)[CENTRE + 6 :, :].all()
    assert not off[: CENTRE + 6, CENTRE - 5 :].any()
    quieter = cutouts.tile(image, np.full(image.shape, 10 * RMS), 200, 150)
    louder = cutouts.tile(image, rms, 200, 150)
    # told the noise is 10x higher, the same pixels span less of the grey scale
    assert np.std(quieter[:40, :40, 0].astype(float)) < np.std(louder[:40, :40, 0].astype(float)) / 3


def test_sheet_tiles_lie_where_tile_origin_says(tmp_path):
    image = sky(sources=[(50 + 15 * i, 100, 0.05) for i in range(20)])
    rms = np.full(image.shape, RMS)
    x, y = 50 + 15 * np.arange(20.0), np.full(20, 100.0)
    path = tmp_path / "g-cutouts.png"
    cutouts.write(path, image, rms, x, y)
    sheet = np.asarray(Image.open(path).convert("RGB"))
    assert sheet.shape == (2 * cutouts.TILE, cutouts.COLUMNS * cutouts.TILE, 3)
    for i in (0, 15, 16, 19):
        left, top = cutouts.tile_origin(i)
        assert (
            sheet[top : top + cutouts.TILE, left : left + cutouts.TILE] == cutouts.tile(image, rms, x[i], y[i])
        ).all()
    assert (sheet[cutouts.TILE :, 4 * cutouts.TILE :] == cutouts.OFF_IMAGE).all()  # no tiles after the 20th
    cutouts.write(path, image, rms, [], [])
    assert Image.open(path).size == (cutouts.TILE, cutouts.TILE)  # no source: one blank tile


def test_forced_rows_then_new_sources_get_tiles_in_order():
    forced_rows = pd.DataFrame(
        {"ra_deg": [1.0, 2.0, 3.0], "dec_deg": [10.0, 20.0, 30.0], "catalog_flux_jy": [0.1, 0.2, 0.3], "pb": 0.5}
    )
    blind_rows = pd.DataFrame({"ra_deg": [4.0, 5.0, 6.0, 7.0], "dec_deg": [40.0, 50.0, 60.0, 70.0]})
    blind_rows["new_source"] = [False, True, False, True]
    tiles = _number_cutouts(forced_rows, blind_rows)
    assert list(forced_rows[cutouts.COLUMN]) == [0, 1, 2]
    assert list(blind_rows[cutouts.COLUMN]) == [-1, 3, -1, 4]
    assert list(tiles["ra_deg"]) == [1.0, 2.0, 3.0, 5.0, 7.0]
    assert np.allclose(tiles["top"], [0.1, 0.2, 0.3, np.nan, np.nan], equal_nan=True)  # 2 x flux x pb


def test_a_source_at_a_fixed_top_compares_between_epochs():
    """Told the same top (twice the catalogue flux), a source at half its flux is paler than
    at its flux, which is paler than at twice it; at the default top (its own peak) all are black."""
    rms = np.full((300, 400), RMS)
    greys = {
        flux: [
            int(cutouts.tile(sky(sources=[(200, 150, flux)]), rms, 200, 150, top)[CENTRE, CENTRE, 0])
            for top in (0.1, None)
        ]
        for flux in (0.025, 0.05, 0.1)
    }
    assert greys[0.025][0] > greys[0.05][0] > greys[0.1][0] + 20
    assert all(greys[flux][1] < 10 for flux in greys)
