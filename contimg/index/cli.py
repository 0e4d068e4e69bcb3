"""``contimg-query``: ask the products index about light curves, images, groups, calibrations
and problems, or run one read-only SQL statement. Prints a table, CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
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
    top.add_argument("--format", choices=["table", "csv", "json"], default="table")
    commands = top.add_subparsers(dest="command", required=True)

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


def run(args: argparse.Namespace) -> tuple[list[str], list[tuple]]:
    conn = query.connect_read_only(args.db)
    try:
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


def write(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    """Rows as an aligned text table, CSV, or a JSON list of objects (on stdout by default)."""
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
        columns, rows = run(args)
    except query.QueryError as err:
        print(f"contimg-query: {err}", file=sys.stderr)
        return 1
    write(columns, rows, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
