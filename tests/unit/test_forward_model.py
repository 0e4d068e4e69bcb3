"""The prediction both the simulator and the calibration model use (contimg.predict: apparent
places, w terms, the Airy beam, the sign convention) against matvis, a visibility simulator
that shares no code with it (astropy for the sky's topocentric directions, pyuvdata's
analytic beams), on a tiny array with baselines from 6 m to 2 km.

Conventions, read from matvis 1.3.3's source rather than fitted: its unpolarised
visibility of antennas (i, j) is sum_s S_s |E_x(s)|^2 exp(2 pi i (x_j - x_i).s / lambda) in the
ENU frame at the site, i.e. pyuvdata's sign and order as ours; pyuvdata's analytic beams
give each of two feeds half the power (E_x = A / sqrt 2), hence the factor 2; its
visibilities are not phased, so each is multiplied by the conjugate phase of a unit source at
our phase centre that matvis itself predicts (uniform beam).
"""

import matvis
import numpy as np
import pytest
from astropy.time import Time
from pyuvdata.analytic_beam import AiryBeam, UniformBeam

from conftest import project_config
from contimg import geometry, layout, predict

DISH_M = 4.65
ENU_M = np.array(  # a T of DSA-110 stations: the arms' 5.75 m / 8.66 m spacings and two outriggers
    [[0, 0, 0], [5.75, 0, 0], [17.25, 0, 0], [0, 8.66, 0], [787.0, 1516.0, 0.1], [-977.0, -205.0, 0.05]]
)
FREQS_HZ = np.array([1.28e9, 1.35e9, 1.45e9, 1.53e9])
TOLERANCE = 1e-4  # of the total flux: the goal


def unphased(sources_flux, ra, dec, times, beam, site):
    """matvis's (n_t, n_f, n_ant, n_ant) visibilities, one call per time (a phase centre moves)."""
    ants = {k: ENU_M[k] for k in range(len(ENU_M))}
    n = len(ENU_M)
    per_time = []
    for t in range(len(times)):
        r, d = (ra[:, t], dec[:, t]) if np.ndim(ra) == 2 else (ra, dec)
        vis = matvis.simulate_vis(ants, sources_flux, r, d, FREQS_HZ, times[[t]], [beam], site, precision=2)
        per_time.append(vis[:, 0].reshape(len(FREQS_HZ), n, n))
    return np.stack(per_time)


@pytest.mark.parametrize("pointing", ["zenith", 16.3, 80.0])
def test_prediction_agrees_with_matvis(pointing):
    """At zenith pointing (matvis's beams point at zenith) the whole prediction with the Airy
    beam; at +16.3 and +80 the geometry alone (no beam on either side)."""
    site = layout.site_location(project_config()["instrument"]["site"])
    rel = layout.enu_to_ecef(ENU_M, site) - layout.enu_to_ecef(np.zeros((1, 3)), site)
    jd = Time("2026-03-21T05:30:00").jd + np.array([0.0, 30.0, 60.0]) * 12.884902 / 86400
    times = Time(jd, format="jd")
    dec_of_date = site.lat.rad if pointing == "zenith" else np.deg2rad(pointing)
    centre = geometry.meridian_apparent(jd, dec_of_date, site)  # where the correlator fringe-stops
    centre_icrs = geometry.apparent_to_icrs(*centre, jd, site)

    rng = np.random.default_rng(110)
    n_src = 6
    dec = centre_icrs[1][1] + np.deg2rad(rng.uniform(-2.0, 2.0, n_src))
    ra = centre_icrs[0][1] + np.deg2rad(rng.uniform(-2.0, 2.0, n_src)) / np.cos(dec)
    flux = rng.uniform(0.5, 5.0, n_src)[:, None] * (FREQS_HZ / 1.4e9) ** rng.uniform(-1.0, 0.0, n_src)[:, None]

    geom = predict.source_geometry(rel, jd, ra, dec, centre, centre, site)
    if pointing == "zenith":
        apparent = predict.apparent_flux(flux, geom, FREQS_HZ, DISH_M)
        reference = 2 * unphased(flux, ra, dec, times, AiryBeam(diameter=DISH_M), site)
    else:
        apparent = np.broadcast_to(flux, (len(jd),) + flux.shape)
        reference = unphased(flux, ra, dec, times, UniformBeam(), site) * 2
    ours = predict.visibilities(geom, apparent, FREQS_HZ)
    t, a, b = (i.ravel() for i in np.meshgrid(range(len(jd)), range(len(ENU_M)), range(len(ENU_M)), indexing="ij"))
    each = predict.baseline_visibilities(geom, apparent, FREQS_HZ, t, a, b)  # the fit's per-source terms
    assert each.shape == (n_src, len(t), len(FREQS_HZ)) and np.allclose(each.sum(axis=0), ours[t, :, a, b])
    centre_phase = unphased(
        np.ones((1, len(FREQS_HZ))), centre_icrs[0][None, :], centre_icrs[1][None, :], times, UniformBeam(), site
    )
    reference = reference * np.conj(centre_phase / np.abs(centre_phase))

    error = np.abs(ours - reference).max() / flux.sum(axis=0).max()
    assert error < TOLERANCE, error
    far = np.hypot(*ENU_M[4, :2] - ENU_M[5, :2]) / (geometry.C_LIGHT / FREQS_HZ.max())
    assert far > 1e4  # wavelengths: an error of 1e-4 of the flux there is 0.3 mas of direction


def test_gaussian_sources_agree_with_matvis_summing_points():
    """A resolved source (FWHM 40" x 20", position angle 30 deg, 1 degree from the phase centre
    at +16.3) against matvis summing a 2"-spaced grid of points that draws the same Gaussian on
    the sky: the taper along and across the axis, on baselines where it is between 1 and ~0."""
    site = layout.site_location(project_config()["instrument"]["site"])
    rel = layout.enu_to_ecef(ENU_M, site) - layout.enu_to_ecef(np.zeros((1, 3)), site)
    jd = Time("2026-03-21T05:30:00").jd + np.array([0.0, 30.0]) * 12.884902 / 86400
    times = Time(jd, format="jd")
    centre = geometry.meridian_apparent(jd, np.deg2rad(16.3), site)
    centre_icrs = geometry.apparent_to_icrs(*centre, jd, site)
    ra0, dec0 = centre_icrs[0][0] + np.deg2rad(0.6), centre_icrs[1][0] + np.deg2rad(0.8)
    major, minor, pa = np.deg2rad([40 / 3600, 20 / 3600, 30.0])

    step = np.deg2rad(2 / 3600)
    offsets = np.arange(-40, 41) * step  # +-4 sigma of the major axis
    east, north = (a.ravel() for a in np.meshgrid(offsets, offsets))
    along, across = east * np.sin(pa) + north * np.cos(pa), east * np.cos(pa) - north * np.sin(pa)
    weight = np.exp(-4 * np.log(2) * ((along / major) ** 2 + (across / minor) ** 2))
    weight /= weight.sum()
    ra, dec = ra0 + east / np.cos(dec0), dec0 + north
    flux = 2.0 * (FREQS_HZ / 1.4e9) ** -0.7
    reference = 2 * unphased(weight[:, None] * flux, ra, dec, times, UniformBeam(), site)
    centre_phase = unphased(
        np.ones((1, len(FREQS_HZ))), centre_icrs[0][None, :], centre_icrs[1][None, :], times, UniformBeam(), site
    )
    reference = reference * np.conj(centre_phase / np.abs(centre_phase))

    geom = predict.source_geometry(rel, jd, np.array([ra0]), np.array([dec0]), centre, centre, site)
    ours = predict.gaussian_visibilities(
        geom, np.broadcast_to(flux, (len(jd), 1, len(FREQS_HZ))), FREQS_HZ, np.array([[major, minor, pa]])
    )
    error = np.abs(ours - reference).max() / flux.max()
    assert error < 1e-3, error
    amplitude = np.abs(ours) / flux[None, :, None, None]
    assert amplitude[:, :, 0, 1].min() > 0.99 and amplitude[:, :, 4, 5].max() < 1e-3  # 6 m vs 2.2 km
    assert 0.1 < amplitude[:, :, 0, 5].min() < amplitude[:, :, 0, 5].max() < 0.5  # 1 km, resolved in part
    point = predict.visibilities(geom, np.broadcast_to(flux, (len(jd), 1, len(FREQS_HZ))), FREQS_HZ)
    assert np.abs(point - reference).max() / flux.max() > 0.1  # a point source would not do
