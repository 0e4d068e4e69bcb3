"""``contimg-query``: ask the products index about light curves, sources and their variability,
new sources, images, groups, calibrations and problems, or run one read-only SQL statement.
Prints a table, CSV or JSON, or writes a VOTable or FITS table (for TOPCAT, Aladin)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sqlite3
import sys
from importlib.metadata import version
from pathlib import Path

from . import query

DEFAULT_DB = "work/products.sqlite"


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="contimg-query", description=__doc__)
    top.add_argument("--version", action="version", version=f"%(prog)s {version('contimg')}")
    top.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get("CONTIMG_DB", DEFAULT_DB)),
        help=f"the index (default: $CONTIMG_DB or {DEFAULT_DB})",
    )
    top.add_argument("--format", choices=["table", "csv", "json", "votable", "fits"], default="table")
    top.add_argument("-o", "--output", type=Path, help="write here instead of stdout (needed for fits)")
    commands = top.add_subparsers(dest="command", required=True)

    listed = commands.add_parser("sources", help="sources with their variability metrics, most variable (eta) first")
    for metric, what in (("eta", "eta"), ("v", "V"), ("vs", "|Vs|"), ("m", "|m|")):
        listed.add_argument(f"--{metric}-min", type=_finite, help=f"at least this {what}")
    commands.add_parser("variables", help="the sources flagged variable, with their metrics")
    commands.add_parser("new-sources", help="new-source candidates: detections no catalogue source explains")
    around = commands.add_parser("cone", help="sources around a position, nearest first")
    around.add_argument("ra", help="RA: degrees, hh:mm:ss or with units (9h18m12s)")
    around.add_argument("dec", help="Dec: degrees, +dd:mm:ss or with units (54d31m12s)")
    around.add_argument("radius", help="arcsec, or any angle: 30arcsec, 0.5deg, '2 arcmin'")
    # a southern declination such as -30:00:00 is a value, not an option (argparse only knows
    # plain negative numbers as such)
    around._negative_number_matcher = re.compile(r"^-\d")

    curve = commands.add_parser("lightcurve", help="forced photometry of a source, by name or position")
    where = curve.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", help="catalogue name, e.g. 'SIM J0918+5431'")
    where.add_argument("--ra", type=_finite, help="RA (deg, ICRS); with --dec")
    curve.add_argument("--dec", type=_finite, help="Dec (deg, ICRS)")
    curve.add_argument(
        "--radius",
        type=_finite,
        default=30.0,
        help=f"search radius in arcsec (default 30, at most {query.MAX_RADIUS_ARCSEC:g})",
    )

    for name, what in (("images", "images"), ("groups", "groups")):
        sub = commands.add_parser(name, help=f"{what} in a time range, with their QA status")
        sub.add_argument("--start", help="MJD or ISO UTC time, e.g. 2026-03-21T05:00")
        sub.add_argument("--end", help="MJD or ISO UTC time")
        if name == "images":
            sub.add_argument("--verdict", choices=["pass", "fail"])
        else:
            sub.add_argument("--status", help="inventory status, e.g. complete, incomplete")

    cal = commands.add_parser("calibration", help="which calibration a group used, and its QA")
    cal.add_argument("obs", help="group id, e.g. 20260321T050000")
    commands.add_parser("problems", help="groups whose products are missing or failed, and why")
    raw = commands.add_parser("sql", help="one read-only SQL statement (see docs/products.md for the schema)")
    raw.add_argument("statement")
    return top


# the commands that say so when nothing matches (the others print an empty table)
MUST_FIND = {
    "sources": "no source matches",
    "variables": "no source is flagged variable",
    "new-sources": "no new-source candidate",
    "cone": "no source within that radius",
}


def run(args: argparse.Namespace) -> tuple[list[str], list[tuple]]:
    conn = query.connect_read_only(args.db)
    try:
        if args.command == "sources":
            return query.sources(conn, args.eta_min, args.v_min, args.vs_min, args.m_min)
        if args.command == "variables":
            return query.sources(conn, variable_only=True)
        if args.command == "new-sources":
            return query.new_sources(conn)
        if args.command == "cone":
            ra_deg, dec_deg = query.parse_position(args.ra, args.dec)
            return query.near(conn, ra_deg, dec_deg, query.parse_radius(args.radius))
        if args.command == "lightcurve":
            if args.name is not None:
                return query.lightcurve(conn, name=args.name)
            if args.dec is None:
                raise query.QueryError("--ra needs --dec")
            return query.lightcurve(conn, ra_deg=args.ra, dec_deg=args.dec, radius_arcsec=args.radius)
        if args.command == "images":
            return query.images(conn, args.start, args.end, args.verdict)
        if args.command == "groups":
            return query.groups(conn, args.start, args.end, args.status)
        if args.command == "calibration":
            return query.calibration(conn, args.obs)
        if args.command == "problems":
            return query.problems(conn)
        return query.sql(conn, args.statement)
    finally:
        conn.close()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def as_table(columns: list[str], rows: list[tuple]):
    """The rows as an astropy Table (empty text cells for NULL text, NaN for NULL numbers)."""
    import numpy as np
    from astropy.table import Table

    data = {}
    for k, name in enumerate(columns):
        values = [row[k] for row in rows]
        numeric = all(v is None or isinstance(v, (int, float)) for v in values)
        if numeric and any(isinstance(v, float) or v is None for v in values):
            data[name] = np.array([np.nan if v is None else v for v in values], float)
        elif numeric:
            data[name] = np.array(values, np.int64)
        else:
            data[name] = np.array(["" if v is None else str(v) for v in values], str)
    return Table(data)


def write(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    """Rows as an aligned text table, CSV, or a JSON list of objects (on stdout by default), or
    a VOTable or FITS table (to the file ``out``; a VOTable may also go to stdout)."""
    if fmt in ("votable", "fits"):
        as_table(columns, rows).write(out or sys.stdout, format=fmt if fmt == "fits" else "votable", overwrite=True)
        return
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps([dict(zip(columns, row)) for row in rows], indent=1) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
    else:
        cells = [columns] + [[_cell(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        for r in cells:
            out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.format == "fits" and args.output is None:
            raise query.QueryError("FITS is binary: give --output FILE")
        columns, rows = run(args)
        if not rows and args.command in MUST_FIND:
            raise query.QueryError(f"{MUST_FIND[args.command]} in {args.db}")
    except query.QueryError as err:
        print(f"contimg-query: {err}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as err:  # e.g. locked by another program for longer than we wait
        print(f"contimg-query: {args.db} could not be read: {err}", file=sys.stderr)
        return 1
    if args.output is None:
        try:
            write(columns, rows, args.format)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (| head): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second one at exit
        return 0
    partial = args.output.with_name(f".{args.output.name}.partial")
    if args.format in ("votable", "fits"):
        write(columns, rows, args.format, str(partial))
    else:
        with open(partial, "w") as out:
            write(columns, rows, args.format, out)
    partial.replace(args.output)  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
