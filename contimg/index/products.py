"""Which products a work area holds, the files that make up each, and their checksums.

A product is what one rule writes for one group (or calibrator group, hour, run): its
``path`` is the record the indexer reads (a JSON, CSV or Parquet file, or the MS), its
``files`` everything hashed for provenance. Of a CASA table (an MS, a calibration table)
only the main table's files are hashed, not its subtables or its lock file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..paths import KINDS


@dataclass(frozen=True)
class Product:
    kind: str
    key: str  # obs id, calibrator obs id, mosaic hour, or the kind itself for run-wide products
    path: str  # the record, relative to the work area
    files: tuple[str, ...]  # every hashed file, relative to the work area


def _is_table(path: Path) -> bool:
    return (path / "table.dat").is_file()


def files_of(work: Path, rel: str) -> list[str]:
    """The files under ``rel`` that make up a product (sorted; hidden names skipped)."""
    path = work / rel
    if path.is_file():
        return [rel]
    if not path.is_dir():
        return []
    if _is_table(path):
        return sorted(f"{rel}/{e.name}" for e in os.scandir(path) if e.is_file() and e.name != "table.lock")
    found = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not entry.name.startswith("."):
            found += files_of(work, f"{rel}/{entry.name}")
    return found


def discover(work: Path) -> list[Product]:
    """Every product present in the work area, in loading order."""
    products = []
    for kind, spec in KINDS.items():
        for record in sorted(work.glob(spec.glob())):
            rel = record.relative_to(work).as_posix()
            key = spec.key_of(rel, kind)
            if key is None:  # e.g. a hidden scratch file or another naming
                continue
            files = files_of(work, rel)
            for companion in spec.companions:
                files += [f for f in files_of(work, companion.format(key=key)) if f not in files]
            products.append(Product(kind, key, rel, tuple(files)))
    return products


def stat(work: Path, files: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """{file: (size, mtime_ns)}: what tells the indexer that a product changed (a file that
    vanished since the product was discovered is left out: the product then counts as changed)."""
    found = {}
    for rel in files:
        try:
            st = os.stat(work / rel)
        except FileNotFoundError:
            continue
        found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_product(file_digests: dict[str, str]) -> str:
    """One digest for a product: over its files' relative paths and digests, in path order."""
    digest = hashlib.sha256()
    for rel in sorted(file_digests):
        digest.update(f"{rel}\0{file_digests[rel]}\n".encode())
    return digest.hexdigest()
