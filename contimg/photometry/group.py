"""One group's image -> photometry/{obs}.parquet (forced), {obs}-blind.parquet (detections),
{obs}-cutouts.png (the image around each source: `cutouts`) and {obs}.json (what was
measured, how, and why not when the image failed its QA).

Every row carries the observation's mid-time (the image header's MJD-OBS), never the time
of measurement. Outputs are written in a scratch directory and moved into place at the
end, so an interrupted job leaves no partial table.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from .. import staging
from ..imaging.restoring_beam import RestoringBeam
from ..settings import Photometry, as_record
from ..sky import Catalog
from . import blind, cutouts, forced

WSCLEAN_PADDING = 1.2  # WSClean's -padding when the image's command does not set it


def _plane(path: Path) -> np.ndarray:
    """The first image plane of a FITS file, as native float64."""
    data = fits.getdata(path)
    return np.asarray(data.reshape(data.shape[-2:]), dtype=float)


def _with_epoch(table: pd.DataFrame, obs: str, mjd: float, freq_hz: float) -> pd.DataFrame:
    """``table`` with the group's id, observation mid-time and frequency as its first columns
    (`lightcurves.EPOCH`)."""
    return pd.concat([pd.DataFrame({"obs": obs, "mjd": mjd, "freq_hz": freq_hz}, index=table.index), table], axis=1)


def _number_cutouts(forced_rows: pd.DataFrame, blind_rows: pd.DataFrame) -> pd.DataFrame:
    """Give every forced row and then every new-source candidate its tile (`cutouts.COLUMN`,
    -1 for detections without one); return the tiles' positions (ra_deg, dec_deg) and tops
    (twice a catalogue source's apparent catalogue flux; NaN: the tile's peak) in order."""
    forced_rows[cutouts.COLUMN] = np.arange(len(forced_rows))
    new = blind_rows["new_source"].to_numpy(bool)
    blind_rows[cutouts.COLUMN] = np.where(new, len(forced_rows) + np.cumsum(new) - 1, -1)
    known = forced_rows[["ra_deg", "dec_deg"]].assign(top=2 * forced_rows["catalog_flux_jy"] * forced_rows["pb"])
    return pd.concat([known, blind_rows.loc[new, ["ra_deg", "dec_deg"]].assign(top=np.nan)], ignore_index=True)


def wsclean_option(cmd: list[str], option: str, default: float) -> float:
    """The value of ``option`` in the WSClean command line an image record keeps (its last
    occurrence wins, as in WSClean), or ``default``."""
    values = [cmd[i + 1] for i, arg in enumerate(cmd[:-1]) if arg == option]
    return float(values[-1]) if values else default


def measure_group(
    image_prefix: Path,
    out_prefix: Path,
    catalog: Catalog,
    pb_cut: float,
    settings: Photometry,
    cores: int,
    dish_m: float,
) -> dict:
    """Forced and blind photometry of ``image_prefix``-image.fits into ``out_prefix``.parquet,
    ``out_prefix``-blind.parquet, ``out_prefix``-cutouts.png and ``out_prefix``.json; return
    the JSON record.

    A failed-QA image gets empty tables, a blank cut-out sheet and the reasons in the record.
    """
    t0 = time.perf_counter()
    obs = out_prefix.name
    qa = json.loads(Path(f"{image_prefix}-qa.json").read_text())
    header = fits.getheader(f"{image_prefix}-image.fits")
    mjd, freq = float(header["MJD-OBS"]), float(header["CRVAL3"])
    record = {
        "obs": obs,
        "image": f"{image_prefix}-image.fits",
        "mjd": mjd,
        "freq_hz": freq,
        "image_verdict": qa["verdict"],
    }
    with staging.scratch_directory(out_prefix.parent / f".{obs}.photometry") as scratch:
        if qa["verdict"] != "pass":
            forced_rows = pd.DataFrame(columns=[*forced.COLUMNS, cutouts.COLUMN])
            blind_rows = pd.DataFrame(columns=[*blind.COLUMNS, cutouts.COLUMN])
            cutouts.write(scratch / f"{obs}-cutouts.png", np.zeros((1, 1)), np.zeros((1, 1)), [], [])
            record.update(measured=False, reason=f"image failed its QA: {'; '.join(qa['reasons'])}")
        else:
            bkg_path, rms_path = blind.background_maps(Path(f"{image_prefix}-residual.fits"), scratch / obs)
            image, residual, pb = (_plane(Path(f"{image_prefix}-{kind}.fits")) for kind in ("image", "residual", "pb"))
            beam = RestoringBeam.from_header(header)
            factor = forced.correlated_noise_factor(residual, (pb >= pb_cut) & np.isfinite(residual), beam)
            maps = forced.ImageMaps(image - _plane(bkg_path), _plane(rms_path), pb, beam, factor)
            margin = settings.edge_margin_beams * header["BMAJ"] / abs(header["CDELT2"])
            found = blind.find_sources(
                Path(f"{image_prefix}-image.fits"),
                bkg_path,
                rms_path,
                settings.blind.seed_clip,
                settings.blind.flood_clip,
                cores,
            )
            blind_rows = blind.cross_match(found, catalog, pb, header, margin, settings.blind)
            blind_rows = blind.flag_dips(blind_rows, residual, maps.rms, header, settings.blind)
            padding = wsclean_option(qa["wsclean"], "-padding", WSCLEAN_PADDING)
            blind_rows = blind.flag_aliases(blind_rows, catalog, header, padding, dish_m, settings.blind)
            blind_rows = blind.with_forced_fluxes(
                blind_rows[blind_rows["pb"] >= pb_cut].reset_index(drop=True), maps, header
            )
            t_blind = time.perf_counter()
            where = forced.at_detections(catalog, blind_rows, settings.position_min_snr, 3600 * header["BMIN"])
            forced_rows = forced.measure(maps, header, where, pb_cut, margin)
            tiles = _number_cutouts(forced_rows, blind_rows)
            x, y = WCS(header).celestial.world_to_pixel_values(tiles["ra_deg"], tiles["dec_deg"])
            cutouts.write(scratch / f"{obs}-cutouts.png", maps.signal, maps.rms, x, y, tiles["top"])
            record.update(
                measured=True,
                correlated_noise_factor=round(factor, 4),
                n_forced=len(forced_rows),
                n_forced_clean=int((forced_rows["flags"] == 0).sum()),
                n_forced_at_detections=int((forced_rows["position_from"] == "detection").sum()),
                n_detections=len(blind_rows),
                n_matched=int((blind_rows["catalog_name"] != "").sum()),
                n_new_sources=int(blind_rows["new_source"].sum()),
                new_sources=blind_rows.loc[
                    blind_rows["new_source"], ["ra_deg", "dec_deg", "forced_flux_jy", "significance"]
                ]
                .round(6)
                .to_dict("records"),
                settings={k: v for k, v in as_record(settings).items() if k != "variability"},
                pb_cut=pb_cut,
                timing_s={"blind": round(t_blind - t0, 2), "forced": round(time.perf_counter() - t_blind, 2)},
            )
        record["versions"] = {name: version(name) for name in ("contimg", "AegeanTools", "numpy", "astropy")}
        _with_epoch(forced_rows, obs, mjd, freq).to_parquet(scratch / f"{obs}.parquet", index=False)
        _with_epoch(blind_rows, obs, mjd, freq).to_parquet(scratch / f"{obs}-blind.parquet", index=False)
        (scratch / f"{obs}.json").write_text(json.dumps(record, indent=1))
        for name in (f"{obs}.parquet", f"{obs}-blind.parquet", f"{obs}-cutouts.png", f"{obs}.json"):
            (scratch / name).replace(out_prefix.parent / name)
    return record
