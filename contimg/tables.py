"""Reading and writing the workflow's small tables.

Floats are read back exactly (pandas' default parser may be 1-2 ulp off): a table that
goes through the header cache must give the same products as one read from the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def write_csv_atomic(table: pd.DataFrame, path: str | os.PathLike, comment: str = "") -> None:
    """Write a CSV (after the text ``comment``, if any) under a temporary name and rename it, so
    readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(comment)
        table.to_csv(handle, index=False)
    os.replace(tmp, path)


def read_groups(path: str | os.PathLike) -> pd.DataFrame:
    """The inventory's groups table, with empty cells as empty strings in text columns."""
    table = pd.read_csv(
        path, dtype={"obs": str, "status": str, "reason": str, "calibrator": str}, float_precision="round_trip"
    )
    text = [c for c in table.columns if table[c].dtype == object]
    table[text] = table[text].fillna("")
    return table


def read_files(path: str | os.PathLike) -> pd.DataFrame:
    """The inventory's files table (also its header cache)."""
    table = pd.read_csv(path, dtype={"name": str, "stamp": str, "reason": str}, float_precision="round_trip")
    table["reason"] = table["reason"].fillna("")
    return table
