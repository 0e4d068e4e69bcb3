"""Forced photometry, the cross-match of blind detections and the light curves, on images
made here with a known answer (the simulated night's images: tests/science)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from scipy.ndimage import map_coordinates
from scipy.signal import fftconvolve

from conftest import project_config, typed_settings
from contimg.imaging.restoring_beam import RestoringBeam
from contimg.photometry import blind, forced, group, lightcurves, systematic
from contimg.settings import Blind, Variability
from contimg.sky import Catalog

SIZE, PIXEL_DEG, FREQ = 1024, 3.27 / 3600, 1.405e9


def header():
    wcs = WCS(naxis=4)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    wcs.wcs.crval = [140.0, 54.6, FREQ, 1]
    wcs.wcs.crpix = [SIZE // 2 + 1, SIZE // 2 + 1, 1, 1]
    wcs.wcs.cdelt = [-PIXEL_DEG, PIXEL_DEG, 1e8, 1]
    h = wcs.to_header()
    h["BMAJ"], h["BMIN"], h["BPA"] = 64.6 / 3600, 15.0 / 3600, 114.0
    return h


def sky_image(rng, hdr, sources: pd.DataFrame, noise: float, pb: np.ndarray):
    """Noise correlated over the beam (white noise through the beam, scaled to ``noise``)
    plus each source's beam times flux times pb."""
    beam = RestoringBeam.from_header(hdr)
    half = 40
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    white = fftconvolve(rng.normal(size=(SIZE, SIZE)), beam.response(dx, dy), mode="same")
    image = white * noise / white.std()
    x, y = WCS(hdr).celestial.world_to_pixel_values(sources["ra_deg"], sources["dec_deg"])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for xk, yk, flux in zip(x, y, sources["flux_jy"]):
        image += flux * pb[int(round(yk)), int(round(xk))] * beam.response(xx - xk, yy - yk)
    return image


def grid_sources(hdr, n_side: int, rng, flux_range=(0.005, 1.0)) -> pd.DataFrame:
    """Sources on a jittered grid (well apart), fluxes log-uniform."""
    ticks = np.linspace(80, SIZE - 80, n_side)
    gx, gy = np.meshgrid(ticks, ticks)
    x = gx.ravel() + rng.uniform(-3, 3, gx.size)
    y = gy.ravel() + rng.uniform(-3, 3, gy.size)
    ra, dec = WCS(hdr).celestial.pixel_to_world_values(x, y)
    flux = np.exp(rng.uniform(*np.log(flux_range), x.size))
    return pd.DataFrame(
        {
            "name": [f"S{k:03d}" for k in range(x.size)],
            "ra_deg": ra,
            "dec_deg": dec,
            "flux_jy": flux,
            "spectral_index": 0.0,
        }
    )


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(7)
    hdr = header()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    pb = np.exp(-((xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2) / (2 * 500.0**2))
    sources = grid_sources(hdr, 14, rng)
    noise = 1e-3
    image = sky_image(rng, hdr, sources, noise, pb)
    residual = sky_image(rng, hdr, sources.iloc[:0], noise, pb)
    return hdr, pb, sources, noise, image, residual


def test_fluxes_are_unbiased_and_errors_honest(field):
    hdr, pb, sources, noise, image, residual = field
    beam = RestoringBeam.from_header(hdr)
    factor = forced.correlated_noise_factor(residual, pb > 0.1, beam)
    assert 1.0 < factor < 2.0  # the filter averages noise correlated over the beam
    maps = forced.ImageMaps(image, np.full_like(image, noise), pb, beam, factor)
    rows = forced.measure(maps, hdr, Catalog(sources), 0.1, 10.0)
    assert len(rows) == len(sources) and (rows["flags"] == 0).all()
    truth = sources.set_index("name").loc[rows["name"], "flux_jy"].to_numpy()
    pull = (rows["flux_jy"] - truth) / rows["flux_err_jy"]
    # 196 sources: the mean pull is known to +-0.07, its spread to +-5 %
    assert abs(pull.mean()) < 0.25, pull.mean()
    assert 0.85 < pull.std() < 1.15, pull.std()
    bright = (rows["snr"] > 100).to_numpy()  # errors < 1 %
    assert bright.sum() > 20 and (np.abs(rows["flux_jy"].to_numpy()[bright] / truth[bright] - 1) < 0.03).all()
    assert np.allclose(rows["flux_jy"], rows["peak_jy_beam"] / rows["pb"])
    assert list(rows["name"]) == sorted(rows["name"])


def test_sources_detected_in_the_image_are_measured_where_they_are(field):
    """A survey-like catalogue (every position 4" off, across the 15" minor axis): at the
    catalogue's positions the fluxes come out low; at the image's own detections (here the true
    positions with aegean-like scatter) they are right. Faint, extended and weaker duplicate
    detections do not move a source."""
    hdr, pb, sources, noise, image, residual = field
    rng = np.random.default_rng(3)
    beam = RestoringBeam.from_header(hdr)
    maps = forced.ImageMaps(image, np.full_like(image, noise), pb, beam, 1.3)
    off = sources.assign(dec_deg=sources["dec_deg"] + 4 / 3600)
    detections = sources.rename(columns={"name": "catalog_name"}).assign(
        ra_deg=sources["ra_deg"] + rng.normal(0, 0.3 / 3600, len(sources)) / np.cos(np.deg2rad(54.6)),
        dec_deg=sources["dec_deg"] + rng.normal(0, 0.3 / 3600, len(sources)),
        significance=50.0,
        point_like=True,
    )
    faint, extended = sources["name"].iloc[0], sources["name"].iloc[1]
    detections.loc[detections["catalog_name"] == faint, "significance"] = 6.0
    detections.loc[detections["catalog_name"] == extended, "point_like"] = False
    weaker = detections.iloc[[2]].assign(dec_deg=detections["dec_deg"].iloc[2] + 20 / 3600, significance=12.0)
    detections = pd.concat([detections, weaker, detections.iloc[[3]].assign(catalog_name="")], ignore_index=True)

    moved = forced.at_detections(Catalog(off), detections, 10.0, 15.0)
    assert list(moved.table["position_from"] == "catalog") == [True, True] + [False] * (len(sources) - 2)
    assert moved.table["dec_deg"].iloc[2] == detections["dec_deg"].iloc[2]  # the more significant one
    truth = sources.set_index("name")["flux_jy"]
    bright = lambda rows: rows[rows["snr"] > 50]  # noqa: E731  (noise < 2 %: the bias shows)
    at_catalogue = bright(forced.measure(maps, hdr, Catalog(off), 0.1, 10.0))
    at_detections = bright(forced.measure(maps, hdr, moved, 0.1, 10.0))
    at_detections = at_detections[at_detections["position_from"] == "detection"]
    assert (at_catalogue["position_from"] == "catalog").all()
    assert np.median(at_catalogue["flux_jy"] / truth[at_catalogue["name"]].to_numpy()) < 0.95
    ratio = at_detections["flux_jy"] / truth[at_detections["name"]].to_numpy()
    assert abs(np.median(ratio) - 1) < 0.01 and (np.abs(ratio - 1) < 0.05).all(), ratio.describe()
    assert np.allclose(at_detections["dec_deg"], moved.table.set_index("name").loc[at_detections["name"], "dec_deg"])


def test_a_sources_position_is_where_its_images_saw_it():
    table = pa.table(
        {
            "ra_deg": [359.9999, 0.0003, 10.0, 20.0],
            "dec_deg": [80.0, 80.0006, 81.0, 82.0],
            "snr": [10.0, 20.0, 30.0, 40.0],
            "position_from": ["detection", "detection", "catalog", "catalog"],
        }
    )
    ra, dec = lightcurves.positions(np.array([0, 0, 0, 1]), table, 2)
    assert ra[0] == pytest.approx(0.0003 - 0.0004 / 5) and dec[0] == pytest.approx(80.0 + 0.0006 * 4 / 5)
    assert (ra[1], dec[1]) == (20.0, 82.0)  # never detected: its first (catalogue) position


def test_flags_edge_blend_and_noise_error(field):
    hdr, pb, sources, noise, image, residual = field
    wcs = WCS(hdr).celestial
    (ra_edge, dec_edge), (ra_a, dec_a), (ra_b, dec_b), (ra_out, dec_out) = (
        wcs.pixel_to_world_values(x, y) for x, y in ((3.0, 500.0), (300.0, 300.0), (304.0, 302.0), (-50.0, 500.0))
    )
    extra = pd.DataFrame(
        {
            "name": ["edge", "a", "b", "outside", "alone"],
            "ra_deg": [ra_edge, ra_a, ra_b, ra_out, ra_a],
            "dec_deg": [dec_edge, dec_a, dec_b, dec_out, dec_a + 0.05],
            "flux_jy": 0.1,
            "spectral_index": 0.0,
        }
    )
    maps = forced.ImageMaps(image, np.full_like(image, noise), np.ones_like(image), RestoringBeam.from_header(hdr), 1.2)
    rows = forced.measure(maps, hdr, Catalog(extra), 0.1, 50.0).set_index("name")
    assert "outside" not in rows.index
    assert rows.loc["edge", "flags"] == forced.FLAG_EDGE | forced.FLAG_NEAR_EDGE and np.isnan(
        rows.loc["edge", "flux_jy"]
    )
    assert rows.loc["a", "flags"] == rows.loc["b", "flags"] == forced.FLAG_BLENDED
    alone = rows.loc["alone"]
    assert alone["flags"] == 0
    assert alone["flux_err_jy"] == pytest.approx(1.2 * noise)  # the noise's: the night adds its systematic


def aegean_like(found: pd.DataFrame) -> pd.DataFrame:
    """Detections (position, peak, local rms, fitted axes) with aegean's other columns."""
    for column in blind.COLUMNS[:11]:
        found[column] = found.get(column, 0.0)
    return found.assign(aegean_flags=0, significance=found["peak_jy_beam"] / found["local_rms_jy"])


def blind_limits(**changes) -> Blind:
    limits = {
        "seed_clip": 5.0,
        "flood_clip": 4.0,
        "match_radius_beams": 1.0,
        "new_source_min_snr": 8.0,
        "shape_tolerance": 0.3,
        "artefact_radius_arcmin": 10.0,
        "artefact_flux_fraction": 0.05,
        "sidelobe_band_arcmin": 3.0,
        "dipole_radius_beams": 2.0,
        "dipole_fraction": 0.5,
        "alias_radius_beams": 3.0,
        "alias_flux_fraction": 0.5,
    }
    return Blind(**{**limits, **changes})


def test_cross_match_new_sources_edges_and_artefacts():
    hdr = header()
    pb = np.ones((SIZE, SIZE))
    wcs = WCS(hdr).celestial
    catalog = Catalog(
        pd.DataFrame(
            {
                "name": ["bright", "faint"],
                "ra_deg": [140.0, 140.3],
                "dec_deg": [54.6, 54.8],
                "flux_jy": [1.0, 0.02],
                "spectral_index": 0.0,
            }
        )
    )
    ra_edge, dec_edge = wcs.pixel_to_world_values(20.0, 500.0)
    found = pd.DataFrame(
        {
            "ra_deg": [140.015, 140.0, 140.5, 140.5, ra_edge, 140.2, 139.6],
            "dec_deg": [54.6, 54.7, 54.3, 54.31, dec_edge, 54.45, 54.62],
            "peak_jy_beam": [1.0, 0.02, 0.05, 0.006, 0.05, 0.05, 0.03],
            "local_rms_jy": 0.001,
            "a_arcsec": [64.6] * 5 + [95.0, 64.6],
            "b_arcsec": 15.0,
        }
    )
    out = blind.cross_match(aegean_like(found), catalog, pb, hdr, 40.0, blind_limits())
    # 31" from "bright" (inside one 64.6" major axis); 6 arcmin from it at 2 %: an artefact;
    # 20 arcmin away at 50 sigma: new; at 6 sigma: below the new-source threshold; 20 px from
    # the edge; 1.47x longer than the beam; 14 arcmin east of "bright", 1.2 arcmin off its
    # declination, at 3 %: on its east-west sidelobe
    assert list(out["catalog_name"]) == ["bright", "", "", "", "", "", ""]
    assert list(out["near_bright"]) == [False, True, False, False, True, False, True]  # the edge one is on the band too
    assert list(out["near_edge"]) == [False, False, False, False, True, False, False]
    assert list(out["point_like"]) == [True] * 5 + [False, True]
    assert list(out["new_source"]) == [False, False, True, False, False, False, False]
    # the catalogue lists "bright" at a third of what the image sees: the 2 % artefact 6 arcmin
    # from it is still its artefact (the image's flux counts), not a new source
    catalog.table.loc[0, "flux_jy"] = 0.33
    out = blind.cross_match(aegean_like(found), catalog, pb, hdr, 40.0, blind_limits())
    assert list(out["near_bright"]) == [False, True, False, False, True, False, True]
    assert not out["new_source"].iloc[1]


def blob(shape, x, y, peak, sigma_px):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma_px**2))


def test_a_candidate_beside_a_negative_peak_is_a_residual_not_a_new_source():
    """A +8 sigma peak with a -9 sigma one 49" away (the +/- of a mis-subtracted source) is no
    new source; the same peak alone, or with a -3 sigma dip (noise), is; so is a
    300-sigma one whose sidelobe dips to -7 sigma (2 % of it). A candidate at the image's edge
    gets its dip from the pixels there are."""
    hdr = header()
    shape = (SIZE, SIZE)
    residual = blob(shape, 300, 300, 8.0, 3) + blob(shape, 300, 315, -9.0, 3)
    residual += blob(shape, 700, 300, 8.0, 3) + blob(shape, 700, 330, -3.0, 3)
    residual += blob(shape, 300, 700, 300.0, 3) + blob(shape, 300, 720, -7.0, 3) + blob(shape, 3, 700, 9.0, 3)
    wcs = WCS(hdr).celestial
    ra, dec = wcs.pixel_to_world_values([300, 700, 300, 3, 500], [300, 300, 700, 700, 500])
    found = pd.DataFrame(
        {"ra_deg": ra, "dec_deg": dec, "peak_jy_beam": [8.0, 8.0, 300.0, 9.0, 8.0], "local_rms_jy": 1.0}
    )
    found = aegean_like(found).assign(new_source=True)
    out = blind.flag_dips(found, residual, np.ones(shape), hdr, blind_limits())
    assert out["dip_snr"].to_numpy() == pytest.approx([-9.0, -3.0, -7.0, 0.0, 0.0], abs=0.15)
    assert list(out["new_source"]) == [False, True, True, True, True]


def test_a_candidate_where_a_source_beyond_the_padded_field_folds_in_is_an_alias():
    """WSClean grids 1.2 x the image's width: a 1 Jy source 1,229 pixels west of a candidate
    (beyond the padded field) folds onto it; a 10 mJy one there is too faint to make a
    20 mJy alias; a candidate elsewhere is none; a padding of 1.5 moves the fold away. A source
    on the far side of the sky folds nowhere (the Airy formula would give it its full flux)."""
    hdr = header()
    hdr["NAXIS1"] = hdr["NAXIS2"] = SIZE
    wcs = WCS(hdr).celestial
    fold = 1.2 * SIZE
    (ra_src, ra_faint), (dec_src, dec_faint) = wcs.pixel_to_world_values([900 - fold, 300 - fold], [512, 200])
    catalog = Catalog(
        pd.DataFrame(
            {
                "name": ["far", "faint", "antipode"],
                "ra_deg": [ra_src, ra_faint, (ra_src + 180.0) % 360.0],
                "dec_deg": [dec_src, dec_faint, -dec_src],
                "flux_jy": [1.0, 0.01, 5.0],
                "spectral_index": 0.0,
            }
        )
    )
    ra, dec = wcs.pixel_to_world_values([900 + 20, 300, 600], [512 - 30, 200, 700])
    found = aegean_like(
        pd.DataFrame({"ra_deg": ra, "dec_deg": dec, "peak_jy_beam": 0.02, "local_rms_jy": 0.001})
    ).assign(new_source=True)
    out = blind.flag_aliases(found, catalog, hdr, 1.2, 4.65, blind_limits())
    assert list(out["aliased"]) == [True, False, False]
    assert list(out["new_source"]) == [False, True, True]
    assert not blind.flag_aliases(found, catalog, hdr, 1.5, 4.65, blind_limits())["aliased"].any()


def test_a_resolved_source_keeps_its_position_owns_its_lumps_and_is_flagged(field):
    """A catalogue source the beam resolves (60" x 40" in a 64.6" x 15" beam): clean leaves its
    emission as point-like lumps, and a lump 50" from its centre (beyond the 32" match radius)
    is that source's, not a new source; no detection moves its forced position; its forced row
    is flagged resolved, which keeps it out of the variability metrics. The same lump 50" from
    a point source is a new source, and a point source's own detection moves it."""
    hdr, pb, sources, noise, image, residual = field
    wcs = WCS(hdr).celestial
    (ra_big, dec_big), (ra_pt, dec_pt) = (wcs.pixel_to_world_values(x, 700.0) for x in (300.0, 700.0))
    catalog = Catalog(
        pd.DataFrame(
            {
                "name": ["big", "point"],
                "ra_deg": [ra_big, ra_pt],
                "dec_deg": [dec_big, dec_pt],
                "flux_jy": 0.5,
                "spectral_index": 0.0,
                "major_arcsec": [60.0, 0.0],
                "minor_arcsec": [40.0, 0.0],
                "pa_deg": 0.0,
            }
        )
    )
    assert list(catalog.resolved(15.0)) == [True, False] and not catalog.resolved(130.0).any()
    lumps = pd.DataFrame(
        {
            "ra_deg": [ra_big, ra_pt, ra_big, ra_pt],
            "dec_deg": [dec_big + 50 / 3600, dec_pt + 50 / 3600, dec_big + 2 / 3600, dec_pt + 2 / 3600],
            "peak_jy_beam": 0.02,
            "local_rms_jy": 0.001,
            "a_arcsec": 64.6,
            "b_arcsec": 15.0,
        }
    )
    limits = blind_limits(match_radius_beams=0.5, artefact_flux_fraction=0.01)
    out = blind.cross_match(aegean_like(lumps), catalog, np.ones((SIZE, SIZE)), hdr, 40.0, limits)
    assert list(out["catalog_name"]) == ["big", "", "big", "point"]
    assert list(out["new_source"]) == [False, True, False, False]
    assert out["separation_arcsec"].iloc[0] == pytest.approx(50.0, abs=0.1)
    moved = forced.at_detections(catalog, out, 10.0, 3600 * hdr["BMIN"]).table.set_index("name")
    assert moved.loc["big", "position_from"] == "catalog" and moved.loc["big", "dec_deg"] == dec_big
    assert moved.loc["point", "position_from"] == "detection"
    maps = forced.ImageMaps(image, np.full_like(image, noise), pb, RestoringBeam.from_header(hdr), 1.2)
    rows = forced.measure(maps, hdr, Catalog(moved.reset_index()), 0.1, 10.0).set_index("name")
    assert rows.loc["big", "flags"] == forced.FLAG_RESOLVED and rows.loc["point", "flags"] == 0
    assert forced.FLAG_RESOLVED & forced.UNRELIABLE


def write_group(path, obs, mjd, fluxes: dict, err=0.002):
    rows = pd.DataFrame(
        {
            "obs": obs,
            "mjd": mjd,
            "freq_hz": FREQ,
            "name": list(fluxes),
            "ra_deg": 140.0,
            "dec_deg": 54.6,
            "catalog_flux_jy": 0.1,
            "flux_jy": list(fluxes.values()),
            "flux_err_jy": err,
            "snr": 50.0,
            "flags": 0,
            "position_from": "catalog",
        }
    )
    rows.to_parquet(path / f"{obs}.parquet", index=False)
    return path / f"{obs}.parquet"


def test_light_curves_flag_the_variable_and_rebuild_identically(tmp_path):
    cfg = Variability(min_epochs=2, vs_min=4.3, m_min=0.26, eta_min=5.0, v_min=0.1, min_snr=5.0, false_alarm=1e-4)
    paths = [
        write_group(tmp_path, f"g{k}", 61000.0 + k / 288, {"steady": 0.1 + 0.001 * (-1) ** k, "flare": f})
        for k, f in enumerate([0.1, 0.1, 0.3, 0.1])
    ]
    blind_paths = []
    for k in range(4):
        n = 2 if k == 1 else 0  # group 1 has a detection of a new source, and one of a known one
        table = pd.DataFrame({c: [0.0] * n for c in blind.COLUMNS}).assign(new_source=[True, False][:n])
        table.insert(0, "mjd", [61000.0 + k / 288] * n)
        table.to_parquet(tmp_path / f"g{k}-blind.parquet", index=False)
        blind_paths.append(tmp_path / f"g{k}-blind.parquet")
    out = tmp_path / "lc"
    summary = lightcurves.build(paths, blind_paths, out, cfg)
    assert summary["variable"] == ["flare"] and summary["n_measurements"] == 8 and summary["n_new_sources"] == 1
    assert (out / "plots" / "flare.png").exists() and not (out / "plots" / "steady.png").exists()
    first = {
        name: (out / name).read_bytes() for name in ("measurements.parquet", "sources.parquet", "new_sources.parquet")
    }
    lightcurves.build(paths, blind_paths, out, cfg)
    assert first == {name: (out / name).read_bytes() for name in first}
    with pytest.raises(ValueError, match="repeat"):
        lightcurves.build(paths + paths[:1], blind_paths, out, cfg)
    # gathered by night first (the workflow's way): the same products, to the byte
    nights = [(tmp_path / f"n{k}.parquet", tmp_path / f"n{k}-new.parquet") for k in range(2)]
    for k, (forced_out, new_out) in enumerate(nights):
        assert lightcurves.gather(paths[2 * k : 2 * k + 2], blind_paths[2 * k : 2 * k + 2], forced_out, new_out) == (
            4,
            0,
        )
    lightcurves.build([f for f, _ in nights], [n for _, n in nights], out, cfg)
    assert first == {name: (out / name).read_bytes() for name in first}


def night_of_repeats(rng, fraction: float, n_sources=150, n_groups=3):
    """Curve numbers, fluxes, noise errors and SNRs of constant sources seen in ``n_groups``
    groups each, every flux off by ``fraction`` of it (drawn per measurement) and by its noise."""
    true = np.repeat(rng.uniform(0.05, 2.0, n_sources), n_groups)
    err = np.full(len(true), 0.002)
    flux = true * (1 + fraction * rng.standard_normal(len(true))) + err * rng.standard_normal(len(true))
    return np.repeat(np.arange(n_sources), n_groups), flux, err, flux / err


def test_the_nights_systematic_is_measured_from_its_repeated_sources():
    rng = np.random.default_rng(5)
    for truth in (0.02, 0.008):
        curve, flux, err, snr = night_of_repeats(rng, truth)
        flux[:3] *= 3.0  # a variable source: one of 150, it moves the median little
        clean = np.ones(len(flux), bool)
        assert systematic.fraction(curve, flux, err, snr, clean) == pytest.approx(truth, rel=0.15)
        clean[:] = False  # flagged measurements do not count: too few left to say
        assert systematic.fraction(curve, flux, err, snr, clean) == 0.0
    curve, flux, err, snr = night_of_repeats(rng, 0.0)
    assert systematic.fraction(curve, flux, err, snr, np.ones(len(flux), bool)) == 0.0  # noise alone
    # sources seen once say nothing about the scatter
    assert systematic.fraction(np.arange(len(flux)), flux, err, snr, np.ones(len(flux), bool)) == 0.0


def test_a_failed_image_gets_empty_tables_and_the_reason(tmp_path):
    hdr = header()
    hdr["MJD-OBS"] = 61120.25
    fits.PrimaryHDU(np.zeros((1, 1, 64, 64), np.float32), hdr).writeto(tmp_path / "g-image.fits")
    (tmp_path / "g-qa.json").write_text('{"verdict": "fail", "reasons": ["rms 9.0 x the thermal expectation"]}')
    out = tmp_path / "phot"
    out.mkdir()
    record = group.measure_group(
        tmp_path / "g", out / "g", Catalog(pd.DataFrame()), 0.1, typed_settings(project_config(), "photometry"), 1, 4.65
    )
    assert record["measured"] is False and "rms 9.0" in record["reason"]
    assert pd.read_parquet(out / "g.parquet").empty and pd.read_parquet(out / "g-blind.parquet").empty
    assert sorted(p.name for p in out.iterdir()) == [
        "g-blind.parquet",
        "g-cutouts.png",
        "g.json",
        "g.parquet",
    ]  # no scratch


@pytest.mark.parametrize("shape, k", [((700, 513), 2), ((64, 65), 3), ((10, 10), 1)])
def test_noise_maps_are_interpolated_back_as_scipy_would(shape, k):
    """The background and noise maps BANE makes on every k-th pixel come back to every pixel
    exactly as map_coordinates(order=1, mode="nearest") would, odd sizes and edges included."""
    coarse = np.random.default_rng(3).normal(size=(-(-shape[0] // k), -(-shape[1] // k)))
    fy, fx = np.mgrid[0 : shape[0], 0 : shape[1]] / k
    expected = map_coordinates(coarse, [fy, fx], order=1, mode="nearest")
    np.testing.assert_allclose(blind._upsampled(coarse, k, shape), expected, rtol=1e-6, atol=1e-6)


def test_noise_maps_of_any_image_size_finish_and_measure_the_noise(tmp_path):
    """The noise map of an image of any shape (an odd 700 rows, a +16 deg group's beam and
    pixels) comes back, in bounded time, and holds the noise."""
    header = fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": 700,
            "NAXIS2": 700,
            "CTYPE1": "RA---SIN",
            "CTYPE2": "DEC--SIN",
            "CRVAL1": 140.0,
            "CRVAL2": 16.3,
            "CRPIX1": 351,
            "CRPIX2": 351,
            "CDELT1": -4.04 / 3600,
            "CDELT2": 4.04 / 3600,
            "BMAJ": 28.6 / 3600,
            "BMIN": 16.2 / 3600,
            "BPA": 92.0,
        }
    )
    noise = np.random.default_rng(4).normal(0, 1e-3, (700, 700)).astype(np.float32)
    fits.PrimaryHDU(noise, header).writeto(tmp_path / "residual.fits")
    code = (
        "import sys; from pathlib import Path; from contimg.photometry import blind; "
        f"blind.background_maps(Path({str(tmp_path / 'residual.fits')!r}), Path({str(tmp_path / 'r')!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    rms = fits.getdata(tmp_path / "r_rms.fits")
    assert rms.shape == noise.shape and np.isfinite(rms).all()
    assert np.median(rms) == pytest.approx(1e-3, rel=0.05)
