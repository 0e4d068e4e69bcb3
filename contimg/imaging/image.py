"""One calibrated group -> images/{obs}-{image,residual,psf,model,pb,image-pb}.fits + QA JSON + PNG.

Bright catalogue sources are subtracted from a scratch copy first (`subtract`) and those
inside the image restored into it after cleaning; WSClean writes into a scratch directory
beside the products; the primary beam and its correction are added, every FITS header gets the observation's mid-time, the calibration
used and the software versions, and the files are moved to their final names.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from astropy.coordinates import EarthLocation
from astropy.io import fits
from astropy.time import Time
from casacore.tables import table

from .. import staging
from ..calibration import model
from ..layout import Layout
from ..msio import ms_layout
from ..paths import WSCLEAN_IMAGES
from ..settings import Imaging
from ..sky import Catalog
from . import noise, pbeam, qa, selfcal, subtract, wsclean


def observation_times(ms: str) -> np.ndarray:
    """Julian dates (UTC) of the integrations' mid-times."""
    with table(ms, ack=False) as main:
        return np.unique(main.getcol("TIME")) / 86400.0 + 2400000.5


@dataclass(frozen=True)
class Group:
    """What imaging needs to know of a group besides its MS."""

    calibration: dict  # its calibrated/{obs}.cal.json record (which calibration, why)
    pointing_dec_deg: float
    site: EarthLocation
    dish_m: float


@dataclass(frozen=True)
class Sampled:
    """What is computed while WSClean runs: the integrations' mid-times (JD), the primary beam
    on the image's pixels and the thermal noise the weights predict (Jy/beam)."""

    jd: np.ndarray
    pb: np.ndarray
    thermal_jy: float


def _stamp(header, jd: np.ndarray, calibration: dict, settings: Imaging, wsclean_version: str) -> None:
    """Observation time (mid, start, end), calibration and software in a FITS header."""
    mid = Time(float(np.mean(jd)), format="jd", scale="utc")
    header["DATE-OBS"] = (mid.isot, "mid-time of the group's integrations (UTC)")
    header["MJD-OBS"] = (round(mid.mjd, 8), "mid-time of the group's integrations (MJD, UTC)")
    first, last = (Time(float(t), format="jd", scale="utc") for t in (jd.min(), jd.max()))
    header["MJD-BEG"] = (round(first.mjd, 8), "first integration's mid-time")
    header["MJD-END"] = (round(last.mjd, 8), "last integration's mid-time")
    header["DATE-BEG"], header["DATE-END"] = first.isot, last.isot
    header["TIMESYS"] = "UTC"
    header["CALIB"] = (calibration.get("calibration", ""), "calibrator group whose caltables were applied")
    header["CALIBRTR"] = (calibration.get("calibrator", ""), "calibrator of that group")
    header["PBMODEL"] = ("Airy, drift- and band-averaged", "primary beam of the -pb.fits image")
    header["PBCUT"] = (settings.pb_cut, "primary-beam level below which -image-pb is blank")
    header["WSCLEAN"] = wsclean_version[:68]
    header["CONTIMG"] = version("contimg")
    header["CASACORE"] = version("python-casacore")


def subtract_bright(
    ms: Path,
    scratch: Path,
    geom: wsclean.Geometry,
    calibrators: Catalog,
    catalog: Catalog,
    group: Group,
    layout: Layout,
    settings: Imaging,
) -> tuple[Path, Catalog, selfcal.PhaseGains | None]:
    """A scratch copy of ``ms`` without the catalogue sources `subtract.to_subtract` picks, those
    inside the image where the data put them (`subtract.fitted_positions`, within half the
    beam's minor axis), all at their fluxes (and the inside ones' spectral indices) fitted to
    the data (`subtract.fitted_fluxes`), its parallel hands first phase self-calibrated on
    them (`selfcal`, when the model gives the phases well enough), or ``ms`` itself when
    there are none; those sources at their fitted positions and fluxes (columns ``inside``,
    ``fitted_scale``, ``fitted_index_change``, ``shift_east_arcsec``, ``shift_north_arcsec``);
    and the self-calibration's gains (None: none)."""
    centre = model.phase_centre(str(ms))
    outside_min, inside_min = settings.subtract_min_apparent_jy, settings.subtract_inside_min_apparent_jy
    bright = model.select_sources(
        calibrators,
        catalog,
        centre,
        model.mean_frequency(str(ms)),
        group.dish_m,
        min(outside_min, inside_min),
        settings.subtract_radius_deg,
    )
    chosen = subtract.to_subtract(
        bright, subtract.image_wcs(centre, geom.size, geom.scale_arcsec), geom.size, outside_min, inside_min
    )
    if chosen.empty:
        return ms, Catalog(chosen), None
    pointing_dec, inside = np.deg2rad(group.pointing_dec_deg), chosen["inside"].to_numpy()
    placed, scales = subtract.fitted_positions(
        str(ms), Catalog(chosen), inside, geom.beam.minor_arcsec / 2, pointing_dec, layout, group.dish_m
    )
    first = Catalog(placed.table.assign(flux_jy=placed.table["flux_jy"] * np.clip(scales, 0.0, None)))
    gains = selfcal.phase_gains(str(ms), first, pointing_dec, layout, group.dish_m, subtract.FIT_CHANNELS)
    fitted = subtract.fitted_fluxes(str(ms), placed, inside, pointing_dec, layout, group.dish_m, gains)
    copy = scratch / "subtracted.ms"
    shutil.copytree(ms, copy)
    subtract.subtract(str(copy), fitted, pointing_dec, layout, group.dish_m, gains)
    return copy, fitted, gains


def sample(ms: Path, geom: wsclean.Geometry, group: Group, layout: Layout, settings: Imaging) -> Sampled:
    """The group's times, its drift- and band-averaged primary beam on the image grid, and the
    thermal noise of its weights."""
    jd = observation_times(str(ms))
    freqs = model.channel_frequencies(str(ms))
    chosen = freqs[np.linspace(0, len(freqs) - 1, min(settings.pb_frequencies, len(freqs))).astype(int)]
    wcs = subtract.image_wcs(model.phase_centre(str(ms)), geom.size, geom.scale_arcsec)
    pb = pbeam.drift_averaged_beam(
        wcs, (geom.size, geom.size), jd, np.deg2rad(group.pointing_dec_deg), layout.site, chosen, group.dish_m
    )
    return Sampled(jd, pb, noise.briggs_noise(str(ms), geom.size, geom.scale_arcsec, settings.robust))


def write_products(
    base: Path,
    image: np.ndarray,
    image_pb: np.ndarray,
    restored: Catalog,
    sampled: Sampled,
    calibration: dict,
    settings: Imaging,
) -> str:
    """Into WSClean's products at ``base``-*.fits: the restored image, and every header stamped;
    beside them ``base``-pb.fits and the primary-beam corrected ``image_pb``. Returns WSClean's
    version."""
    stamp_version = wsclean.version()
    for kind in WSCLEAN_IMAGES:
        with fits.open(f"{base}-{kind}.fits", mode="update") as hdul:
            _stamp(hdul[0].header, sampled.jd, calibration, settings, stamp_version)
            if kind == "image":
                hdul[0].data[0, 0] = image
                hdul[0].header["RESTORED"] = (len(restored), "catalogue sources subtracted and restored")
                header = hdul[0].header.copy()
    for kind, data, unit in (("pb", sampled.pb, ""), ("image-pb", image_pb, "JY/BEAM")):
        out = fits.PrimaryHDU(data[None, None].astype(np.float32), header)
        out.header["BUNIT"] = unit
        out.header.remove("RESTORED", ignore_missing=True)
        out.writeto(f"{base}-{kind}.fits")
    return stamp_version


def image_group(
    ms: Path, prefix: Path, group: Group, calibrators: Catalog, catalog: Catalog, settings: Imaging, job: wsclean.Job
) -> dict:
    """Image ``ms`` into ``prefix``-*.fits, ``prefix``-qa.json and ``prefix``-thumb.png; return the QA."""
    t0 = time.perf_counter()
    name = prefix.name
    layout = ms_layout(str(ms), group.site)
    with staging.scratch_directory(prefix.parent / f".{name}.imaging") as scratch:
        geom = wsclean.image_geometry(str(ms), settings.fov_deg, settings.pixels_per_beam, settings.robust)
        imaged, subtracted, gains = subtract_bright(ms, scratch, geom, calibrators, catalog, group, layout, settings)
        t_subtract = time.perf_counter()
        cmd = wsclean.command(str(imaged), str(scratch / name), geom, settings)
        with wsclean.running(cmd, job):  # meanwhile, on the core it leaves idle:
            sampled = sample(ms, geom, group, layout, settings)
        t_clean = time.perf_counter()
        with fits.open(scratch / f"{name}-image.fits") as hdul:
            header, image = hdul[0].header, hdul[0].data[0, 0]
        restored = Catalog(subtracted.table[subtracted.table["inside"]])
        image = subtract.restore(image, header, restored, sampled.pb)
        residual = fits.getdata(scratch / f"{name}-residual.fits")[0, 0]
        metrics, sources = qa.image_metrics(image, residual, sampled.pb, header, catalog, sampled.thermal_jy, settings)
        image_pb = pbeam.correct(image, sampled.pb, settings.pb_cut)
        stamp_version = write_products(scratch / name, image, image_pb, restored, sampled, group.calibration, settings)
        qa.thumbnail(image_pb, header, sources, f"{name} ({metrics['verdict']})", scratch / f"{name}-thumb.png")
        record = {
            "obs": name,
            "ms": str(ms),
            "calibration": group.calibration.get("calibration", ""),
            "mjd": round(float(np.mean(sampled.jd)) - 2400000.5, 8),  # = MJD-OBS of the FITS files
            "ra_deg": header["CRVAL1"],
            "dec_deg": header["CRVAL2"],
            **metrics,
            "image_size": geom.size,
            "subtracted": subtracted.names,
            "restored": restored.names,
            "fitted_scales": dict(zip(subtracted.names, subtracted.table.get("fitted_scale", []))),
            "fitted_index_changes": dict(zip(subtracted.names, subtracted.table.get("fitted_index_change", []))),
            "fitted_shifts_arcsec": {
                row.name: [row.shift_east_arcsec, row.shift_north_arcsec]
                for row in subtracted.table.itertuples()
                if row.inside and (row.shift_east_arcsec or row.shift_north_arcsec)
            },
            "selfcal_phase_rms_deg": None if gains is None else selfcal.phase_rms_deg(gains),
            "selfcal_intervals": None if gains is None else gains.intervals,
            "wsclean": cmd,
            "resources": {"threads": job.threads, "mem_gb": round(job.mem_gb, 1)},  # the job's, not the image's
            "software": {
                "wsclean": stamp_version,
                "contimg": version("contimg"),
                "python-casacore": version("python-casacore"),
            },
            "timing_s": {
                "subtract": round(t_subtract - t0, 2),
                "wsclean_and_beam": round(t_clean - t_subtract, 2),
                "qa_headers": round(time.perf_counter() - t_clean, 2),
            },
            "sources": sources.round(6).replace({np.nan: None}).to_dict("records"),
        }
        (scratch / f"{name}-qa.json").write_text(json.dumps(record, indent=1))
        shutil.rmtree(scratch / "subtracted.ms", ignore_errors=True)
        for path in scratch.iterdir():
            path.replace(prefix.parent / path.name)
    return record
