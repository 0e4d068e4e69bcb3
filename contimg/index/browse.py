"""``contimg-browse``: the products index in a web browser, with no web app of our own.

Datasette serves ``products.sqlite`` read-only and immutable on localhost, with the image
thumbnails of the work area as static files and these pages (canned queries, `METADATA`):

- ``source?name=...``: a source's light curve (every epoch: flux, error, flags, the source's
  cut-out from that epoch's image, the image's thumbnail), plotted by datasette-vega (the
  link's ``#g.`` settings);
- ``variability``: every source's metrics (eta, V, Vs, m, ...), most variable first; the
  ``variability`` table itself sorts by any column;
- ``eta_v``: log eta against log V, one point per source (plotted);
- ``cone?ra=09:18:12&dec=+54:31:12&radius_arcsec=60``: sources around a position given in
  degrees or sexagesimal (`browse_sql`'s SQL functions);
- ``time_range?start=...&end=...``: images whose mid-time is in the range (MJD or ISO);
- ``new_sources``: the new-source candidates with their cut-outs; ``image_qa``: every image's
  QA with its thumbnail.

Thumbnails are served from the work area's images/ at /thumbs, the cut-out sheets
(`photometry.cutouts`) from its photometry/ at /cutouts: a cut-out is its tile of the sheet,
shown at twice its size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..paths import Area
from ..photometry import cutouts
from .cli import DEFAULT_DB
from .query import NIGHT_ERROR, NIGHT_JOIN

LINE = "#g.mark=line&g.x_column=mjd&g.x_type=quantitative&g.y_column=flux_jy&g.y_type=quantitative"
SCATTER = "#g.mark=circle&g.x_column=log10_eta&g.x_type=quantitative&g.y_column=log10_v&g.y_type=quantitative"
# a source's name as a link to its page ('+' and ' ' escaped for the query string)
SOURCE_LINK = (
    "'<a href=\"/products/source?name=' || replace(replace(s.name, '+', '%2B'), ' ', '%20') || '"
    + LINE
    + "\">' || s.name || '</a>'"
)
THUMBNAIL = '\'<img src="/thumbs/\' || g.obs || \'-thumb.png" width="240" loading="lazy">\''
ZOOM = 2


def cutout_cell(table: str) -> str:
    """SQL for the HTML showing the cut-out of ``table``'s row (its ``cutout`` tile of the
    group's sheet; NULL where it has none)."""
    side, shown = cutouts.TILE - 1, ZOOM * (cutouts.TILE - 1)
    left = f"(({table}.cutout % {cutouts.COLUMNS}) * {cutouts.TILE})"  # in brackets: || binds tighter than *
    top = f"(({table}.cutout / {cutouts.COLUMNS}) * {cutouts.TILE})"
    return (
        f"CASE WHEN {table}.cutout >= 0 THEN "
        f'\'<div class="cutout" style="width:{shown}px;height:{shown}px;overflow:hidden">'
        f'<div style="width:{side}px;height:{side}px;transform:scale({ZOOM});transform-origin:0 0;'
        f"image-rendering:pixelated;background:url(/cutouts/' || g.obs || '-cutouts.png) -' || {left} || 'px -' || "
        f"{top} || 'px\"></div></div>' END"
    )


POSITION = "round(s.ra_deg, 5) AS ra_deg, round(s.dec_deg, 5) AS dec_deg"  # 0.04": for the page
METRICS = (  # rounded for the page (the variability table itself has every digit)
    "v.n_epochs, round(v.max_snr, 1) AS max_snr, round(v.weighted_mean_jy, 5) AS weighted_mean_jy, "
    "round(v.eta, 3) AS eta, round(v.v, 4) AS v, round(v.vs, 2) AS vs, round(v.m, 4) AS m, "
    "round(v.chi2_nu, 3) AS chi2_nu, v.variable, v.reason"
)

QUERIES = {
    "source": {
        "title": "Source: light curve",
        "description": "Every forced measurement of one source (plot: flux_jy against mjd).",
        "sql": f"""SELECT g.obs, round(p.mjd, 6) AS mjd, round(p.flux_jy, 6) AS flux_jy,
            round(p.flux_err_jy, 6) AS flux_err_jy, round({NIGHT_ERROR}, 6) AS flux_err_night_jy,
            round(p.snr, 1) AS snr, p.flags, round(p.catalog_flux_jy, 6) AS catalog_flux_jy,
            {cutout_cell("p")} AS cutout, {THUMBNAIL} AS thumbnail
            FROM photometry p JOIN sources s USING (source_id) JOIN groups g USING (group_id) {NIGHT_JOIN}
            WHERE s.name = :name ORDER BY p.mjd""",
    },
    "variability": {
        "title": "Variability: most variable first",
        "sql": f"""SELECT {SOURCE_LINK} AS source, {POSITION}, {METRICS}
            FROM variability v JOIN sources s USING (source_id)
            ORDER BY v.eta IS NULL, v.eta DESC, s.name""",
    },
    "eta_v": {
        "title": "eta against V",
        "description": "One point per source with both metrics (plot: log10_v against log10_eta).",
        "sql": """SELECT s.name, log10(v.eta) AS log10_eta, log10(v.v) AS log10_v, v.variable
            FROM variability v JOIN sources s USING (source_id) WHERE v.eta > 0 AND v.v > 0
            ORDER BY v.eta DESC""",
    },
    "cone": {
        "title": "Cone search",
        "description": "Sources within radius_arcsec of (ra, dec): degrees, or 09:18:12 +54:31:12.",
        "sql": f"""SELECT {SOURCE_LINK} AS source, {POSITION},
            round(sep_arcsec(ra_deg(:ra), dec_deg(:dec), s.ra_deg, s.dec_deg), 2) AS separation_arcsec, {METRICS}
            FROM sources s LEFT JOIN variability v USING (source_id)
            WHERE separation_arcsec <= CAST(:radius_arcsec AS REAL) ORDER BY separation_arcsec""",
    },
    "time_range": {
        "title": "Images in a time range",
        "description": "start and end: MJD or ISO UTC (2026-03-21T05:00).",
        "sql": f"""SELECT g.obs, i.mjd, i.verdict, i.rms_jy, i.rms_over_thermal, i.flux_ratio_median,
            i.astrometric_offset_arcsec, i.n_sources, {THUMBNAIL} AS thumbnail
            FROM images i JOIN groups g USING (group_id)
            WHERE i.mjd BETWEEN mjd(:start) AND mjd(:end) ORDER BY i.mjd""",
    },
    "new_sources": {
        "title": "New-source candidates",
        "sql": f"""SELECT g.obs, d.mjd, d.ra_deg, d.dec_deg, d.significance, d.flux_jy, d.forced_flux_jy,
            d.forced_flux_err_jy, {cutout_cell("d")} AS cutout FROM detections d JOIN groups g USING (group_id)
            WHERE d.new_source ORDER BY d.mjd""",
    },
    "image_qa": {
        "title": "Image QA",
        "sql": f"""SELECT g.obs, i.mjd, i.verdict, i.reasons, i.rms_jy, i.rms_over_thermal, i.flux_ratio_median,
            i.astrometric_offset_arcsec, i.n_sources, {THUMBNAIL} AS thumbnail
            FROM images i JOIN groups g USING (group_id) ORDER BY i.mjd""",
    },
}

METADATA = {
    "title": "DSA-110 continuum survey: products index",
    "description_html": (
        "Read-only. Pages: "
        '<a href="/products/variability">variability</a> (each name opens its light curve), '
        f'<a href="/products/eta_v{SCATTER}">eta against V</a>, '
        '<a href="/products/cone">cone search</a>, <a href="/products/time_range">time range</a>, '
        '<a href="/products/new_sources">new sources</a>, <a href="/products/image_qa">image QA</a>.'
    ),
    "databases": {
        "products": {
            "queries": {name: {**q, "hide_sql": True} for name, q in QUERIES.items()},  # "show" reveals it
            "tables": {"sources": {"label_column": "name"}},
            "plugins": {"datasette-render-html": {"columns": ["source", "thumbnail", "cutout"]}},
        }
    },
}


def command(db: Path, work: Path, metadata: Path, port: int) -> list[str]:
    """The datasette command serving ``db`` (as database "products") and the work area's
    thumbnails (at /thumbs) and cut-out sheets (at /cutouts) where it has them."""
    area = Area(str(work))
    static = {"thumbs": Path(area.image("")).parent, "cutouts": Path(area.photometry("")).parent}
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        "--immutable",
        str(db),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--metadata",
        str(metadata),
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ] + [arg for mount, path in static.items() if path.is_dir() for arg in ("--static", f"{mount}:{path}")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="contimg-browse", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=Path(os.environ.get("CONTIMG_DB", DEFAULT_DB)))
    ap.add_argument(
        "--work", type=Path, help="the work area whose thumbnails and cut-outs to show (default: the index's directory)"
    )
    ap.add_argument("--port", type=int, default=8001)
    args = ap.parse_args(argv)
    if not args.db.is_file():
        print(f"contimg-browse: no products index at {args.db}", file=sys.stderr)
        return 1
    print(f"contimg-browse: http://127.0.0.1:{args.port}/products (Ctrl-C to stop)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="contimg-browse-") as scratch:
        served = Path(scratch) / "products.sqlite"  # datasette names the database by its file
        served.symlink_to(args.db.resolve())
        metadata = Path(scratch) / "metadata.json"
        metadata.write_text(json.dumps(METADATA))
        server = subprocess.Popen(command(served, args.work or args.db.parent, metadata, args.port))
        signal.signal(signal.SIGTERM, lambda *_: server.terminate())  # stopped (by a batch system, a test): it too
        try:
            code = server.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the server as well
            code = server.wait()
        return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
