"""Groups whose data broke a job after the inventory passed them: recorded, then skipped.

The inventory reads only headers. A fault that shows only when the data are read (a file
damaged after the scan, every visibility flagged) fails that group's conversion job. The
job then writes ``quarantine/{obs}.json`` (the error and the size and mtime of each input
file) before failing. The next inventory marks the group ``failed`` with that reason, so
the next run skips it and completes the night-level products without it. A record stops
counting as soon as any of the group's files changes (a re-delivered file is tried again);
deleting the record also retries the group.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

FAILED = "failed"


def record(directory: str | os.PathLike, obs: str, stage: str, paths: list[Path], error: BaseException) -> Path:
    """Write ``directory/{obs}.json`` for a job of ``stage`` that failed on ``paths``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for path in paths:
        try:
            st = path.stat()
            files.append({"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        except OSError:  # vanished: a record that can never match the files again
            files.append({"name": path.name, "size": -1, "mtime_ns": -1})
    out = directory / f"{obs}.json"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps({"obs": obs, "stage": stage, "error": str(error), "files": files}, indent=1))
    os.replace(tmp, out)
    return out


def read_all(directory: str | os.PathLike) -> list[dict]:
    """Every readable record in ``directory`` (none if it does not exist)."""
    records = []
    for path in sorted(Path(directory).glob("*.json")) if Path(directory).is_dir() else []:
        try:
            records.append({**json.loads(path.read_text()), "path": str(path)})
        except (OSError, ValueError):
            continue  # a half-written record is replaced by the next failure of its group
    return records


def still_valid(rec: dict, incoming: str | os.PathLike) -> bool:
    """Whether every file of the record is still in ``incoming`` with its size and mtime."""
    for f in rec["files"]:
        try:
            st = (Path(incoming) / f["name"]).stat()
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (f["size"], f["mtime_ns"]):
            return False
    return True


def mark_groups(
    groups: pd.DataFrame, incoming: str | os.PathLike, records: list[dict]
) -> tuple[pd.DataFrame, list[str]]:
    """``groups`` with the complete groups of still-valid records set to ``failed`` (and
    why), plus the paths of records whose files have changed (those groups are tried again)."""
    out, stale = groups.copy(), []
    for rec in records:
        hit = out["obs"] == rec["obs"]
        if not hit.any() or out.loc[hit, "status"].iloc[0] != "complete":
            continue
        if still_valid(rec, incoming):
            out.loc[hit, "status"] = FAILED
            out.loc[hit, "reason"] = f"{rec['stage']} failed: {rec['error']} (remove {rec['path']} to try again)"
        else:
            stale.append(rec["path"])
    return out, stale
