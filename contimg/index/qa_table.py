"""The image QA table of the index, for people: `index/image_qa.csv` and an HTML page of it
(the report's Quality section; a browser shows it without a server)."""

from __future__ import annotations

import html
import json
from contextlib import closing
from pathlib import Path

import pandas as pd

from contimg.index import query

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Image QA</title>
<style>body {{font-family: sans-serif; font-size: 13px}} table {{border-collapse: collapse}}
td, th {{border: 1px solid #ccc; padding: 2px 6px; text-align: right}} td:last-child {{text-align: left}}
tr.fail {{background: #fde2e2}}</style></head>
<body><h2>Image QA: {n_pass} of {n} images passed</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


def cell(column: str, value) -> str:
    """One table cell: MJD to 5 decimals, other numbers to 6 digits, text escaped."""
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.5f}" if column == "mjd" else f"{value:.6g}"
    return html.escape(str(value))


def write(db: Path, csv_path: Path, html_path: Path) -> pd.DataFrame:
    """Every indexed image's QA (obs, time, verdict, noise, flux scale, astrometry, sources,
    calibration, reasons), in time order, as CSV and as an HTML table with failed rows marked."""
    with closing(query.connect_read_only(db)) as conn:
        columns, rows = query.images(conn)
    table = pd.DataFrame(rows, columns=columns)
    table.to_csv(csv_path, index=False)
    shown = table.drop(columns=["path"])
    shown["reasons"] = ["; ".join(json.loads(r)) if r else "" for r in shown["reasons"]]
    cells = (
        "".join(f"<td>{cell(c, v)}</td>" for c, v in zip(shown.columns, row)) for row in shown.itertuples(index=False)
    )
    body = "\n".join(f'<tr class="{verdict}">{row}</tr>' for verdict, row in zip(shown["verdict"], cells))
    html_path.write_text(
        PAGE.format(
            n=len(table),
            n_pass=int((table["verdict"] == "pass").sum()),
            rows=body,
            head="".join(f"<th>{html.escape(c)}</th>" for c in shown.columns),
        )
    )
    return table
