"""Content digests of products: equal when two runs made the same product.

Most products are the same bytes run after run (Parquet tables, PNGs, the raw files of the
simulator), and their digest is the sha256 of the bytes. Some carry bytes that say nothing
about the science, and are digested by content instead:

- CASA tables (a directory with ``table.dat``): casacore leaves uninitialised padding in
  the files of array columns, and the HISTORY subtable says when and where each step ran
  (times, absolute paths, process ids). Digest: every column's values of the table and of
  its subtables but HISTORY, with subtables named, not located.
- FITS images: WSClean writes its command line into HISTORY cards, with the threads and
  memory the job was given (more after a retry). Digest: the other header cards and the data.
- JSON records: ``timing_s`` (how long each step took) and ``resources`` (what the job was
  given) are left out.
- CSV tables: an ``mtime_ns`` column (when a raw file was last written) is left out.
- The SQLite index: its science tables, row by row, with internal ids replaced by the
  group and source names they stand for; the run log and per-file checksums left out.

A digest is ``sha256:<hex>`` of bytes or ``content:<hex>`` of content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import numpy as np

VOLATILE_JSON_KEYS = {"timing_s", "resources"}
VOLATILE_CSV_COLUMNS = {"mtime_ns"}
INDEX_SKIPPED_TABLES = {"meta", "runs", "products", "product_files"}
ROWS_PER_READ = 20000


def is_casa_table(path: Path) -> bool:
    return path.is_dir() and (path / "table.dat").is_file()


def digest(path: str | Path) -> str:
    """The digest of one product (a file or a CASA table directory)."""
    path = Path(path)
    if is_casa_table(path):
        return "content:" + _casa_table(path)
    if path.suffix == ".json":
        record = _without(json.loads(path.read_text()), VOLATILE_JSON_KEYS)
        return "content:" + _sha(json.dumps(record, sort_keys=True).encode())
    if path.suffix == ".csv":
        return "content:" + _sha(_csv_without(path.read_text(), VOLATILE_CSV_COLUMNS).encode())
    if path.suffix == ".sqlite":
        return "content:" + _index(path)
    if path.suffix == ".fits":
        return "content:" + _fits(path)
    return "sha256:" + bytes_sha256([path]).hexdigest()


def bytes_sha256(files: list[Path], root: Path | None = None):
    """sha256 (hashlib object) of the bytes of ``files`` in order, each preceded by its path
    relative to ``root`` when one is given (a directory's files)."""
    h = hashlib.sha256()
    for file in files:
        if root is not None:
            h.update(str(file.relative_to(root)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    return h


def products(root: str | Path, skip: tuple[str, ...] = ("logs", "benchmarks", "index")) -> dict[str, str]:
    """{path relative to ``root``: digest} of every product under ``root`` (`product_paths`)."""
    return {rel: digest(path) for rel, path in product_paths(root, skip).items()}


def product_paths(root: str | Path, skip: tuple[str, ...] = ("logs", "benchmarks", "index")) -> dict[str, Path]:
    """{path relative to ``root``: path} of every product under ``root``: each file, and
    each CASA table as one product. Not products: the top-level directories in ``skip``
    (how the runs went: logs, benchmarks, and index/last_run.json, what the last indexing
    changed) and hidden files (a job's private copies, SQLite's journals)."""
    root = Path(root)
    out = {}
    stack = [root]
    while stack:
        directory = stack.pop()
        for entry in sorted(directory.iterdir()):
            rel = entry.relative_to(root)
            if entry.name.startswith(".") or rel.parts[0] in skip or entry.name.endswith(("-wal", "-shm")):
                continue
            if is_casa_table(entry) or entry.is_file():
                out[str(rel)] = entry
            elif entry.is_dir():
                stack.append(entry)
    return dict(sorted(out.items()))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _without(value, keys: set[str]):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def _csv_without(text: str, columns: set[str]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ""
    keep = [i for i, name in enumerate(rows[0]) if name not in columns]
    out = io.StringIO()
    csv.writer(out).writerows([[row[i] for i in keep if i < len(row)] for row in rows])
    return out.getvalue()


def _casa_table(path: Path) -> str:
    """Digest of a table's columns, keywords and subtables (by name, not by path)."""
    from casacore.tables import table

    h = hashlib.sha256()
    with table(str(path), ack=False) as tb:
        _casa_into(h, tb)
        for name in sorted(k for k, v in tb.getkeywords().items() if isinstance(v, str) and v.startswith("Table: ")):
            if name == "HISTORY":
                continue
            h.update(f"subtable {name}".encode())
            with table(str(path / name), ack=False) as sub:
                _casa_into(h, sub)
    return h.hexdigest()


def _casa_into(h, tb) -> None:
    keywords = {
        k: (f"subtable {k}" if isinstance(v, str) and v.startswith("Table: ") else v)
        for k, v in tb.getkeywords().items()
    }
    h.update(repr(sorted(keywords.items())).encode())
    n = tb.nrows()
    h.update(f"rows {n}".encode())
    for column in sorted(tb.colnames()):
        h.update(f"column {column} {sorted(tb.getcolkeywords(column).items())!r}".encode())
        for start in range(0, n, ROWS_PER_READ):
            nrow = min(ROWS_PER_READ, n - start)
            if tb.coldatatype(column) == "record":
                for row in range(start, start + nrow):
                    _update_value(h, sorted(tb.getcell(column, row).items()))
            elif tb.isvarcol(column):
                cells = tb.getvarcol(column, start, nrow)
                for key in sorted(cells, key=lambda r: int(r[1:])):
                    _update_value(h, cells[key])
            else:
                _update_value(h, tb.getcol(column, start, nrow))


def _update_value(h, value) -> None:
    if isinstance(value, np.ndarray) and value.dtype.kind not in "OUS":
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(repr(value).encode())


def _fits(path: Path) -> str:
    from astropy.io import fits

    h = hashlib.sha256()
    with fits.open(path, memmap=True) as hdul:
        for hdu in hdul:
            cards = [str(c) for c in hdu.header.cards if c.keyword not in ("HISTORY", "COMMENT")]
            h.update("\n".join(cards).encode())
            if hdu.data is not None:
                h.update(np.ascontiguousarray(hdu.data).tobytes())
    return h.hexdigest()


def _index(path: Path) -> str:
    """Digest of the index's science tables, independent of id order and file times."""
    h = hashlib.sha256()
    for name, (columns, rows) in index_tables(path).items():
        h.update(f"{name} {columns}".encode())
        for row in sorted(map(repr, rows)):
            h.update(row.encode())
    return h.hexdigest()


def index_tables(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """{table: (columns, rows)} of the index's science tables, internal ids replaced by the
    group and source names they stand for; rows in the order of their names and keys."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        groups = dict(conn.execute("SELECT group_id, obs FROM groups"))
        sources = dict(conn.execute("SELECT source_id, name FROM sources"))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        found = {}
        for name in (t for t in tables if t not in INDEX_SKIPPED_TABLES):
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cursor.description]
            names = {c: groups if c.endswith("group_id") else sources if c == "source_id" else None for c in columns}
            rows = [tuple(names[c].get(v, v) if names[c] else v for c, v in zip(columns, row)) for row in cursor]
            text = [tuple(v for v in row if not isinstance(v, float)) for row in rows]  # names and keys, not numbers
            found[name] = (columns, [row for _, row in sorted(zip(map(repr, text), rows), key=lambda p: p[0])])
        return found
    finally:
        conn.close()
