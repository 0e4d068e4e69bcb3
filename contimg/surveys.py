"""Survey catalogues as their surveys distribute them, turned into the workflow's catalogue
(`contimg.sky`: name, position, 1.4 GHz flux density, spectral index, deconvolved size).

Each reader knows one published layout (column names and units; FITS, VOTable or CSV, read
with astropy; CASDA's ``col_`` prefix and letter case do not matter):

- ``nvss``: the NVSS catalogue as NRAO distributes it (CATALOG.FIT, an AIPS VL table):
  RA(2000), DEC(2000) in degrees, PEAK INT in Jy/beam, MAJOR AX and MINOR AX the fitted
  axes in degrees (45" beam): integrated flux = peak x major x minor / (45")^2; deconvolved
  axes sqrt(fitted^2 - (45")^2) (0 where the fit is not wider than the beam), POSANGLE.
- ``first``: the FIRST catalogue (first_14dec17.fits): RA, DEC, FINT in mJy, deconvolved
  MAJOR, MINOR (arcsec), PA; rows with a sidelobe probability SIDEPROB above 0.5 are dropped.
- ``vlass``: CIRADA's VLASS Quick Look component catalogue: RA, DEC, Total_flux in mJy at
  3.0 GHz, deconvolved DC_Maj, DC_Min (arcsec), DC_PA; kept where Duplicate_flag < 2 and
  Quality_flag is 0 or 4 (CIRADA's advice).
- ``racs``: RACS-low component lists from CASDA (Selavy): ra_deg_cont, dec_deg_cont,
  flux_int in mJy at 887.5 MHz, maj_axis_deconv, min_axis_deconv (arcsec), pos_ang_deconv.

A file without its survey's size columns gives sizes of 0 (points).
- ``perley-butler-2017``: the flux calibrators (config/catalogs/perley_butler_2017.csv):
  sexagesimal positions and the published log-polynomial, re-referenced to 1.4 GHz with its
  curvature terms.

No survey gives a spectral index: fluxes are moved to 1.4 GHz with ``spectral_index`` (default
-0.7, the median of optically thin synchrotron sources at GHz frequencies, Condon 1992), and
that index is what the workflow then assumes across the band.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table, vstack

from . import sky, tables

DEFAULT_SPECTRAL_INDEX = -0.7
NVSS_BEAM_DEG = 45.0 / 3600.0


class SurveyError(ValueError):
    """A survey file that does not have the layout its survey publishes."""


def column(table: Table, *names: str) -> np.ndarray:
    """The first of ``names`` in ``table`` (case-insensitive, CASDA's 'col_' prefix optional), as floats
    or strings; a missing column is named in the error."""
    by_key = {c.lower().removeprefix("col_"): c for c in table.colnames}
    for name in names:
        found = by_key.get(name.lower())
        if found is not None:
            values = table[found]
            return np.asarray(values.filled(np.nan) if hasattr(values, "filled") else values)
    raise SurveyError(f"no column {' or '.join(repr(n) for n in names)} (columns: {', '.join(table.colnames)})")


def has_column(table: Table, name: str) -> bool:
    return name.lower() in {c.lower().removeprefix("col_") for c in table.colnames}


@dataclass(frozen=True)
class Survey:
    """A survey's catalogue layout: where its positions and integrated fluxes are, which rows
    to trust, and the frequency its fluxes are at."""

    label: str  # the prefix of the names given to its sources
    frequency_hz: float
    position: Callable[[Table], tuple[np.ndarray, np.ndarray]]  # (ra_deg, dec_deg)
    flux_jy: Callable[[Table], np.ndarray]
    keep: Callable[[Table], np.ndarray]
    shape: Callable[[Table], tuple[np.ndarray, np.ndarray, np.ndarray]]  # deconvolved major, minor (arcsec), pa (deg)


def _degrees(ra: str, dec: str) -> Callable[[Table], tuple[np.ndarray, np.ndarray]]:
    return lambda t: (column(t, ra).astype(float), column(t, dec).astype(float))


def _milli_jansky(name: str) -> Callable[[Table], np.ndarray]:
    return lambda t: column(t, name).astype(float) * 1e-3


def _all(table: Table) -> np.ndarray:
    return np.ones(len(table), bool)


def _deconvolved(major: str, minor: str, pa: str, beam_arcsec: float = 0.0, unit_arcsec: float = 1.0):
    """The survey's size columns as deconvolved (major, minor) in arcsec and pa in degrees: the
    fitted axes (in ``unit_arcsec``) less a circular ``beam_arcsec`` in quadrature, or the
    published deconvolved axes (``beam_arcsec`` 0); zeros where the file has no such columns."""

    def shape(table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not all(has_column(table, c) for c in (major, minor, pa)):
            return np.zeros(len(table)), np.zeros(len(table)), np.zeros(len(table))
        axes = [column(table, c).astype(float) * unit_arcsec for c in (major, minor)]
        axes = [np.sqrt(np.clip(np.nan_to_num(a) ** 2 - beam_arcsec**2, 0.0, None)) for a in axes]
        return axes[0], axes[1], np.nan_to_num(column(table, pa).astype(float))

    return shape


def _nvss_flux(table: Table) -> np.ndarray:
    axes = column(table, "MAJOR AX").astype(float) * column(table, "MINOR AX").astype(float)
    return column(table, "PEAK INT").astype(float) * axes / NVSS_BEAM_DEG**2


def write_nvss(path, ra_deg, dec_deg, flux_jy, major_arcsec=0.0, minor_arcsec=0.0, pa_deg=0.0) -> None:
    """Sources (integrated 1.4 GHz flux, deconvolved FWHM axes, position angle) as NRAO's
    CATALOG.FIT lists them: fitted axes = the source's convolved with the 45" beam, peak =
    flux x beam area / fitted area (what `_nvss_flux` reads back)."""
    n = len(ra_deg)
    beam = NVSS_BEAM_DEG * 3600
    major = np.hypot(np.broadcast_to(major_arcsec, n), beam) / 3600
    minor = np.hypot(np.broadcast_to(minor_arcsec, n), beam) / 3600
    Table(
        {
            "RA(2000)": np.asarray(ra_deg, float),
            "DEC(2000)": np.asarray(dec_deg, float),
            "PEAK INT": np.asarray(flux_jy, float) * NVSS_BEAM_DEG**2 / (major * minor),
            "MAJOR AX": major,
            "MINOR AX": minor,
            "POSANGLE": np.broadcast_to(np.asarray(pa_deg, float), n),
            "I RMS": np.full(n, 4.5e-4),
            "FIELD": ["C0900P56"] * n,
        }
    ).write(path, format="fits", overwrite=True)


def _first_keep(table: Table) -> np.ndarray:
    if not has_column(table, "SIDEPROB"):
        return _all(table)
    return column(table, "SIDEPROB").astype(float) <= 0.5


def _vlass_keep(table: Table) -> np.ndarray:
    duplicate = column(table, "Duplicate_flag").astype(float)
    quality = column(table, "Quality_flag").astype(float)
    return (duplicate < 2) & np.isin(quality, (0, 4))


SURVEYS: dict[str, Survey] = {
    "nvss": Survey(
        "NVSS",
        1.4e9,
        _degrees("RA(2000)", "DEC(2000)"),
        _nvss_flux,
        _all,
        _deconvolved("MAJOR AX", "MINOR AX", "POSANGLE", NVSS_BEAM_DEG * 3600, 3600.0),
    ),
    "first": Survey(
        "FIRST",
        1.4e9,
        _degrees("RA", "DEC"),
        _milli_jansky("FINT"),
        _first_keep,
        _deconvolved("MAJOR", "MINOR", "PA"),
    ),
    "vlass": Survey(
        "VLASS",
        3.0e9,
        _degrees("RA", "DEC"),
        _milli_jansky("Total_flux"),
        _vlass_keep,
        _deconvolved("DC_Maj", "DC_Min", "DC_PA"),
    ),
    "racs": Survey(
        "RACS",
        887.5e6,
        _degrees("ra_deg_cont", "dec_deg_cont"),
        _milli_jansky("flux_int"),
        _all,
        _deconvolved("maj_axis_deconv", "min_axis_deconv", "pos_ang_deconv"),
    ),
}
FORMATS = (*SURVEYS, "perley-butler-2017")


def iau_names(label: str, ra_deg: np.ndarray, dec_deg: np.ndarray) -> list[str]:
    """'LABEL Jhhmmss.ss+ddmmss.s' for each position; a repeated name gets '-2', '-3', ..."""
    coords = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    ra = coords.ra.to_string(unit=u.hourangle, sep="", precision=2, pad=True)
    dec = coords.dec.to_string(sep="", precision=1, alwayssign=True, pad=True)
    names, seen = [], {}
    for r, d in zip(np.atleast_1d(ra), np.atleast_1d(dec)):
        base = f"{label} J{r}{d}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def read_survey(
    fmt: str,
    paths: Sequence[str],
    spectral_index: float = DEFAULT_SPECTRAL_INDEX,
    frequency_hz: float | None = None,
    flux_scale: float = 1.0,
) -> sky.Catalog:
    """Every trusted row of the survey files ``paths`` (one survey, ``fmt``) as a catalogue at
    1.4 GHz: S_1.4 = flux_scale x S x (1.4 GHz / frequency)^spectral_index."""
    if fmt == "perley-butler-2017":
        return read_perley_butler(paths)
    if fmt not in SURVEYS:
        raise SurveyError(f"unknown survey format {fmt!r} (one of {', '.join(FORMATS)})")
    survey = SURVEYS[fmt]
    tables = []
    for path in paths:
        try:
            tables.append(Table.read(path, format="ascii.csv" if str(path).endswith(".csv") else None))
        except Exception as err:  # astropy raises many kinds for a file it cannot read
            raise SurveyError(f"{path}: not a readable {fmt} catalogue ({err})") from None
    table = vstack(tables, metadata_conflicts="silent") if len(tables) > 1 else tables[0]
    try:
        ra, dec = survey.position(table)
        flux = survey.flux_jy(table) * flux_scale
        keep = survey.keep(table) & np.isfinite(ra) & np.isfinite(dec) & np.isfinite(flux) & (flux > 0)
        shape = survey.shape(table)
    except SurveyError as err:
        raise SurveyError(f"{', '.join(map(str, paths))}: not the {fmt} layout: {err}") from None
    at = frequency_hz or survey.frequency_hz
    flux_14 = flux * (sky.REFERENCE_FREQ_HZ / at) ** spectral_index
    out = pd.DataFrame(
        {
            "name": iau_names(survey.label, ra[keep], dec[keep]),
            "ra_deg": ra[keep],
            "dec_deg": dec[keep],
            "flux_jy": flux_14[keep],
            "spectral_index": spectral_index,
            **{c: values[keep] for c, values in zip(sky.SHAPE_COLUMNS, shape)},
        }
    )
    return sky.Catalog(out)


def read_perley_butler(paths: Sequence[str]) -> sky.Catalog:
    """The Perley & Butler (2017) calibrators: position and log-polynomial (nu in GHz) ->
    1.4 GHz flux, spectral index and curvature terms (`contimg.sky.log_polynomial_at`)."""
    table = pd.concat([pd.read_csv(p, comment="#", skipinitialspace=True) for p in paths], ignore_index=True)
    terms = [f"a{k}" for k in range(2 + len(sky.CURVATURE_COLUMNS))]
    missing = [c for c in ("name", "ra_hms", "dec_dms", *terms) if c not in table.columns]
    if missing:
        raise SurveyError(f"{', '.join(map(str, paths))}: not the perley-butler-2017 layout: no column(s) {missing}")
    coords = SkyCoord(table["ra_hms"], table["dec_dms"], unit=(u.hourangle, u.deg))
    rows = []
    for k, row in table.iterrows():
        b = sky.log_polynomial_at(row[terms].to_numpy(float), 1e9)
        rows.append(
            {
                "name": row["name"],
                "ra_deg": round(float(coords[k].ra.deg), 7),
                "dec_deg": round(float(coords[k].dec.deg), 7),
                "flux_jy": round(10 ** b[0], 4),
                "spectral_index": round(b[1], 5),
                **{c: round(v, 5) for c, v in zip(sky.CURVATURE_COLUMNS, b[2:])},
            }
        )
    return sky.Catalog(pd.DataFrame(rows))


def in_strips(catalog: sky.Catalog, decs_deg: Sequence[float], radius_deg: float, min_flux_jy: float) -> sky.Catalog:
    """The sources within ``radius_deg`` in declination of any of the strips ``decs_deg`` and at
    least ``min_flux_jy`` at 1.4 GHz, brightest first."""
    table = catalog.table
    dec = table["dec_deg"].to_numpy(float)
    near = np.zeros(len(table), bool)
    for strip in decs_deg:
        near |= np.abs(dec - strip) <= radius_deg
    kept = table[near & (table["flux_jy"].to_numpy(float) >= min_flux_jy)]
    return sky.Catalog(kept.sort_values("flux_jy", ascending=False, kind="stable").reset_index(drop=True))


def make(
    fmt: str,
    paths: Sequence[str],
    out: str,
    decs_deg: Sequence[float] = (),
    radius_deg: float = 10.0,
    min_flux_jy: float = 0.0,
    spectral_index: float = DEFAULT_SPECTRAL_INDEX,
    frequency_hz: float | None = None,
    flux_scale: float = 1.0,
) -> sky.Catalog:
    """Read the survey files, keep the declination strips ``decs_deg`` (none given: the whole
    sky) and write the workflow's catalogue to ``out`` with its provenance as comment lines."""
    catalog = read_survey(fmt, paths, spectral_index, frequency_hz, flux_scale)
    kept = in_strips(catalog, decs_deg or [0.0], radius_deg if decs_deg else 180.0, min_flux_jy)  # 180: all
    header = [
        f"made by contimg-catalog from the {fmt} catalogue {', '.join(map(str, paths))}: {len(kept)} of {len(catalog)} sources",
        f"declination strips {', '.join(f'{d:+.2f}' for d in decs_deg)} +- {radius_deg} deg"
        if decs_deg
        else "whole sky",
    ]
    if fmt in SURVEYS:
        at = frequency_hz or SURVEYS[fmt].frequency_hz
        header.append(
            f"flux >= {min_flux_jy} Jy at 1.4 GHz, the survey's times {flux_scale}, moved from {at / 1e9:g} GHz "
            f"with spectral index {spectral_index} (the survey gives none)"
        )
    else:
        header.append("log10 S = log10 flux_jy + spectral_index x + sum_k curvature_k x^k, x = log10(nu / 1.4 GHz)")
    tables.write_csv_atomic(kept.table, out, comment="".join(f"# {line}\n" for line in header))
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    """``contimg-catalog``: a survey catalogue as distributed -> the workflow's catalogue CSV."""
    import argparse

    ap = argparse.ArgumentParser(prog="contimg-catalog", description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", action="version", version=f"%(prog)s {version('contimg')}")
    ap.add_argument("format", choices=FORMATS)
    ap.add_argument("files", nargs="+", help="the survey's catalogue file(s): FITS, VOTable or CSV")
    ap.add_argument("-o", "--out", required=True, help="the catalogue CSV to write")
    ap.add_argument("--dec", type=float, action="append", default=[], help="a declination strip to keep (deg)")
    ap.add_argument("--radius-deg", type=float, default=10.0, help="half-width of each strip (default 10)")
    ap.add_argument("--min-flux-jy", type=float, default=0.0, help="faintest 1.4 GHz flux kept")
    ap.add_argument("--spectral-index", type=float, default=DEFAULT_SPECTRAL_INDEX)
    ap.add_argument("--frequency-hz", type=float, default=None, help="the fluxes' frequency, if not the survey's")
    ap.add_argument("--flux-scale", type=float, default=1.0, help="a correction of the survey's flux scale")
    args = ap.parse_args(argv)
    try:
        kept = make(
            args.format,
            args.files,
            args.out,
            args.dec,
            args.radius_deg,
            args.min_flux_jy,
            args.spectral_index,
            args.frequency_hz,
            args.flux_scale,
        )
    except (SurveyError, OSError) as err:
        print(f"contimg-catalog: {err}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(kept)} sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
