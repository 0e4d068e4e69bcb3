"""Image quality: noise against the radiometer expectation, and the catalogue's sources
measured in the image (flux scale, astrometry, completeness), with a verdict and a thumbnail.

Sources are measured where the catalogue puts them: a Gaussian of the restoring beam's shape
(amplitude, position and a local background free) fitted in a box of about two beams, the
flux divided by the primary beam at the fitted position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from scipy.optimize import least_squares

from ..settings import Imaging, ImagingQA
from ..sky import Catalog
from .restoring_beam import RestoringBeam


def robust_rms(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of the finite values."""
    v = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def fit_at(
    image: np.ndarray, x: float, y: float, beam: RestoringBeam, half_box: int
) -> tuple[float, float, float] | None:
    """(peak, x, y) of a beam-shaped Gaussian fitted near pixel (x, y); None at the image edge."""
    ix, iy = int(round(x)), int(round(y))
    ny, nx = image.shape
    if ix - half_box < 0 or iy - half_box < 0 or ix + half_box >= nx or iy + half_box >= ny:
        return None
    box = image[iy - half_box : iy + half_box + 1, ix - half_box : ix + half_box + 1]
    if not np.isfinite(box).all():
        return None
    yy, xx = np.mgrid[iy - half_box : iy + half_box + 1, ix - half_box : ix + half_box + 1]
    start = [float(image[iy, ix]), x, y, float(np.median(box))]

    def misfit(p):
        amp, x0, y0, background = p
        return (amp * beam.response(xx - x0, yy - y0) + background - box).ravel()

    fit = least_squares(
        misfit,
        start,
        bounds=(
            [-np.inf, x - half_box / 2, y - half_box / 2, -np.inf],
            [np.inf, x + half_box / 2, y + half_box / 2, np.inf],
        ),
    )
    return float(fit.x[0]), float(fit.x[1]), float(fit.x[2])


def systematic_offset(detected: pd.DataFrame) -> float | None:
    """Length (arcsec) of the median offset of the image's positions from the catalogue's
    (median east part, median north part): a shift common to the image, such as a phase
    calibration error makes. A survey's own position errors (NVSS: 1-5") scatter each
    source's offset but average out of the median vector; the median of the offsets' lengths
    would keep them (2" rms per axis: 2.35" median length, which failed 4 of 6 good images
    at 0.2 of a 15" beam)."""
    if detected.empty:
        return None
    return float(np.hypot(np.median(detected["offset_east_arcsec"]), np.median(detected["offset_north_arcsec"])))


def measure_catalog(
    image: np.ndarray, pb: np.ndarray, header, catalog: Catalog, rms: float, pb_cut: float
) -> pd.DataFrame:
    """Fit every catalogue source inside the primary-beam cut; one row per source.

    Columns: name, ra_deg, dec_deg, expected_jy (catalogue flux at the image frequency),
    pb, peak_jy_beam, flux_jy (peak / pb at the fitted position), snr, offset_arcsec and its
    east and north parts (fitted minus catalogue position), expected_snr (expected apparent
    flux / rms), resolved (the catalogue's size is resolved by the beam, `sky.Catalog.resolved`:
    its peak is not its flux, nor its fitted position its centre).
    """
    wcs = WCS(header).celestial
    freq = float(header["CRVAL3"])
    beam = RestoringBeam.from_header(header)
    half_box = int(np.ceil(2.0 * beam.sigma_major)) + 2
    x, y = wcs.world_to_pixel(SkyCoord(catalog.table["ra_deg"], catalog.table["dec_deg"], unit="deg"))
    expected = catalog.flux_at([freq])[:, 0]
    resolved = catalog.resolved(3600 * header["BMIN"])
    rows = []
    for k, name in enumerate(catalog.names):
        ix, iy = int(round(float(x[k]))), int(round(float(y[k])))
        if not (0 <= ix < image.shape[1] and 0 <= iy < image.shape[0]) or pb[iy, ix] < pb_cut:
            continue
        fit = fit_at(image, float(x[k]), float(y[k]), beam, half_box)
        row = {
            "name": name,
            "ra_deg": catalog.table["ra_deg"].iloc[k],
            "dec_deg": catalog.table["dec_deg"].iloc[k],
            "expected_jy": expected[k],
            "pb": float(pb[iy, ix]),
            "expected_snr": expected[k] * pb[iy, ix] / rms,
            "resolved": bool(resolved[k]),
        }
        if fit is not None:
            peak, fx, fy = fit
            gain = float(pb[int(round(fy)), int(round(fx))])
            fitted = wcs.pixel_to_world(fx, fy).icrs
            where = SkyCoord(fitted.ra, fitted.dec)  # plain ICRS (no time): comparable with the catalogue's
            true = SkyCoord(row["ra_deg"], row["dec_deg"], unit="deg")
            east, north = true.spherical_offsets_to(where)
            row.update(
                peak_jy_beam=peak,
                flux_jy=peak / gain,
                snr=peak / rms,
                offset_arcsec=float(where.separation(true).arcsec),
                offset_east_arcsec=float(east.arcsec),
                offset_north_arcsec=float(north.arcsec),
            )
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "ra_deg",
            "dec_deg",
            "expected_jy",
            "pb",
            "expected_snr",
            "peak_jy_beam",
            "flux_jy",
            "snr",
            "offset_arcsec",
            "offset_east_arcsec",
            "offset_north_arcsec",
            "resolved",
        ],
    )


def verdict(metrics: dict, limits: ImagingQA) -> list[str]:
    """Reasons the image fails its gate (empty when it passes)."""
    reasons = []
    lo, hi = limits.flux_ratio_range
    ratio = metrics["flux_ratio_median"]
    if ratio is None or not lo <= ratio <= hi:
        reasons.append(
            f"median flux ratio {ratio} of {metrics['n_flux_sources']} sources above "
            f"{limits.flux_ratio_min_jy} Jy is outside [{lo}, {hi}]"
        )
    if metrics["rms_over_thermal"] > limits.max_rms_over_thermal:
        reasons.append(
            f"rms {metrics['rms_jy'] * 1e3:.3f} mJy is {metrics['rms_over_thermal']:.2f} x the thermal "
            f"expectation (limit {limits.max_rms_over_thermal})"
        )
    if metrics["completeness"] is not None and metrics["completeness"] < limits.min_completeness:
        reasons.append(
            f"completeness {metrics['completeness']:.0%} above {limits.completeness_snr} sigma "
            f"(limit {limits.min_completeness:.0%})"
        )
    if metrics["beam_arcsec"][1] < limits.min_pixels_per_beam * metrics["pixel_arcsec"]:
        reasons.append(
            f"beam minor axis {metrics['beam_arcsec'][1]:.2f} arcsec spans fewer than "
            f"{limits.min_pixels_per_beam} pixels of {metrics['pixel_arcsec']:.2f} arcsec"
        )
    offset = metrics["astrometric_offset_arcsec_median"]
    if offset is not None and offset > limits.max_offset_beam_fraction * metrics["beam_arcsec"][1]:
        reasons.append(
            f"median astrometric offset {offset:.2f} arcsec exceeds {limits.max_offset_beam_fraction} "
            f"of the beam's minor axis"
        )
    return reasons


def image_metrics(
    image: np.ndarray,
    residual: np.ndarray,
    pb: np.ndarray,
    header,
    catalog: Catalog,
    thermal_jy: float,
    settings: Imaging,
) -> tuple[dict, pd.DataFrame]:
    """The QA record of one image and the per-source measurements behind it."""
    limits, cut = settings.qa, settings.pb_cut
    inside = pb >= cut
    rms = robust_rms(residual[inside])
    sources = measure_catalog(image, pb, header, catalog, rms, cut)
    detected = sources[
        (sources["snr"] >= limits.completeness_snr) & (sources["offset_arcsec"] <= 3600 * header["BMIN"])
    ]
    compact = detected[~detected["resolved"].astype(bool)]
    flux_set = compact[compact["expected_jy"] >= limits.flux_ratio_min_jy]
    expected_visible = sources[sources["expected_snr"] >= limits.completeness_snr]
    found = expected_visible["name"].isin(detected["name"])
    peak = float(np.nanmax(image[inside]))
    metrics = {
        "rms_jy": rms,
        "thermal_jy": thermal_jy,
        "rms_over_thermal": rms / thermal_jy,
        "peak_jy_beam": peak,
        "dynamic_range": peak / rms,
        "beam_arcsec": [3600 * header["BMAJ"], 3600 * header["BMIN"]],
        "beam_pa_deg": header["BPA"],
        "pixel_arcsec": 3600 * abs(header["CDELT2"]),
        "frequency_hz": header["CRVAL3"],
        "n_catalog_in_beam": len(sources),
        "n_sources": len(detected),
        "n_flux_sources": len(flux_set),
        "flux_ratio_median": float(np.median(flux_set["flux_jy"] / flux_set["expected_jy"])) if len(flux_set) else None,
        "astrometric_offset_arcsec_median": systematic_offset(compact),
        "completeness": float(found.mean()) if len(expected_visible) else None,
    }
    metrics = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}
    reasons = verdict(metrics, limits)
    metrics.update(verdict="pass" if not reasons else "fail", reasons=reasons)
    return metrics, sources


def thumbnail(
    image_pb: np.ndarray,
    header,
    sources: pd.DataFrame,
    title: str,
    path,
    size: int = 800,
    new_sources: pd.DataFrame | None = None,
) -> None:
    """PNG of the primary-beam-corrected image (the part with data, block-averaged to about
    ``size`` pixels across, asinh-stretched around the noise: `picture`) with the catalogue's
    positions circled (green: snr >= 5, red: fainter) and ``new_sources`` (ra_deg, dec_deg)
    in blue squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import picture

    rows, cols = picture.covered(image_pb)
    step = max(1, int(np.ceil(max(rows.stop - rows.start, cols.stop - cols.start) / size)))
    shown = picture.block_mean(image_pb[rows, cols], step)
    wcs = WCS(header).celestial
    height, width = shown.shape
    inches = float(np.clip(width / 100, 8, 16))  # about one picture pixel per block at 100 dpi
    fig = plt.figure(figsize=(inches, float(np.clip(inches * height / max(width, 1), 2.5, inches)) + 1.2))
    ax = fig.add_subplot(projection=wcs[rows.start : rows.stop : step, cols.start : cols.stop : step])
    ax.imshow(shown, origin="lower", cmap="gray_r", norm=picture.noise_stretch(shown))

    def shown_at(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # block centres
        x, y = wcs.world_to_pixel(SkyCoord(table["ra_deg"], table["dec_deg"], unit="deg"))
        return (x - cols.start - (step - 1) / 2) / step, (y - rows.start - (step - 1) / 2) / step

    if len(sources):
        x, y = shown_at(sources)
        hit = sources["snr"].fillna(0) >= 5
        ax.scatter(x[hit], y[hit], s=80, facecolors="none", edgecolors="tab:green", label="catalogue, detected")
        ax.scatter(x[~hit], y[~hit], s=80, facecolors="none", edgecolors="tab:red", label="catalogue, < 5 sigma")
    if new_sources is not None and len(new_sources):
        x, y = shown_at(new_sources)
        ax.scatter(x, y, s=110, marker="s", facecolors="none", edgecolors="tab:blue", label="new-source candidate")
    if len(sources) or (new_sources is not None and len(new_sources)):
        ax.legend(loc="upper right", fontsize=8)
    for coord, side in ((ax.coords[0], "b"), (ax.coords[1], "l")):  # WCSAxes may pick the top for RA
        coord.set_ticklabel_position(side)
        coord.set_axislabel_position(side)
    ax.set(title=title, xlabel="RA", ylabel="Dec")
    fig.savefig(path, dpi=100)
    plt.close(fig)
