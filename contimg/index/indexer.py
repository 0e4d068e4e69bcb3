"""Bring the products index of a work area up to date, in one transaction.

The index is an SQLite file in WAL mode. The indexer takes the write lock (a second indexer
waits for it), compares every product on disk with what the index holds (file sizes and
modification times), loads the new and changed ones, drops the removed ones, and commits
once: readers see the old index until the commit and the new one after it, and an indexer
killed at any point leaves the old index as it was. When nothing changed nothing is
written, so indexing twice gives the same file. The first index of a work area is built in
a private file and linked into place whole.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import os
import platform
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from ..paths import KINDS
from . import load, products, schema

PACKAGES = ("contimg", "numpy", "pandas", "pyarrow", "astropy")


def database_path(work: str | Path, database: str | Path) -> Path:
    """The index file named by config ``index.database`` (relative to the work area)."""
    return Path(work) / database


def connect_for_writing(db: Path, busy_timeout_s: float = 600.0, journal: bool = True) -> sqlite3.Connection:
    """A connection that manages its own transactions, with foreign keys on: in WAL mode, or
    without any journal for a private file no one else reads (``journal=False``)."""
    conn = sqlite3.connect(db, timeout=busy_timeout_s, isolation_level=None)
    conn.execute("PRAGMA page_size = 16384")  # for a new file only: bulk loads ~10 % faster than 4 KiB
    if journal:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash can lose the last commit, never corrupt
    else:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -512000")  # 512 MB
    return conn


def code_version() -> str:
    """contimg's version, with the git commit of its checkout (and '+dirty') when there is one."""
    package_dir = Path(__file__).resolve().parents[1]
    described = version("contimg")
    try:

        def git(*args):
            return subprocess.run(
                ["git", "-C", str(package_dir), *args], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        described += f" ({commit}{'+dirty' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return described


def config_sha256(config: dict | None) -> str | None:
    """A digest of the (validated, defaults filled) configuration the products were made with."""
    if config is None:
        return None
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _stored(conn: sqlite3.Connection) -> dict:
    """{(kind, key): (product_id, path, {file: (size, mtime_ns, sha256)})} of the index."""
    stored = {}
    for product_id, kind, key, path in conn.execute("SELECT product_id, kind, key, path FROM products"):
        stored[(kind, key)] = (product_id, path, {})
    by_id = {entry[0]: entry[2] for entry in stored.values()}
    for product_id, path, size, mtime_ns, sha in conn.execute("SELECT * FROM product_files"):
        by_id[product_id][path] = (size, mtime_ns, sha)
    return stored


def _digests(work: Path, stats: dict, known: dict) -> dict[str, str]:
    """{file: sha256}, reusing the stored digest of a file whose size and mtime are unchanged."""
    return {
        rel: known[rel][2] if rel in known and known[rel][:2] == stat else products.sha256_file(work / rel)
        for rel, stat in stats.items()
    }


def _record(conn, run_id: int, product: products.Product, stats: dict, digests: dict, software) -> None:
    """The product's provenance row and its files' digests."""
    cursor = conn.execute(
        "INSERT INTO products (kind, key, path, sha256, n_files, bytes, software, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            product.kind,
            product.key,
            product.path,
            products.sha256_product(digests),
            len(stats),
            sum(size for size, _ in stats.values()),
            json.dumps(software) if software else None,
            run_id,
        ),
    )
    conn.executemany(
        "INSERT INTO product_files (product_id, path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?, ?)",
        [(cursor.lastrowid, rel, *stats[rel], digests[rel]) for rel in sorted(stats)],
    )


def _plan(work: Path, stored: dict, present: list[products.Product]) -> tuple[list, list]:
    """What to do: the (kind, key) of products gone from disk (dependents first), and
    (product, file stats, stored entry or None) of every new or changed product (in loading order)."""
    kinds = list(KINDS)
    gone = sorted(set(stored) - {(p.kind, p.key) for p in present}, key=lambda k: -kinds.index(k[0]))
    todo = []
    for product in present:
        stats = products.stat(work, product.files)
        old = stored.get((product.kind, product.key))
        if not (old and old[1] == product.path and {f: v[:2] for f, v in old[2].items()} == stats):
            todo.append((product, stats, old))
    return gone, todo


def _read_ahead(work: Path, batch: list, known_sources: dict, depth: int = 16):
    """Yield (item, data, digests, error) for each (product, stats, stored entry) of the batch,
    with the product's files read and hashed up to ``depth`` products ahead in a worker thread
    (file reading, Parquet decoding, hashing and source look-ups overlap the inserts).
    ``error`` says why a product could not be read (data and digests are then None)."""

    def read(item):
        product, stats, old = item
        try:
            return load.read(work, product, known_sources), _digests(work, stats, old[2] if old else {}), None
        except Exception as err:  # a damaged or vanished file: reported, the rest goes on
            return None, None, f"{type(err).__name__}: {err}"

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = collections.deque()
        for item in batch:
            pending.append((item, pool.submit(read, item)))
            if len(pending) > depth:
                done, future = pending.popleft()
                yield done, *future.result()
        while pending:
            done, future = pending.popleft()
            yield done, *future.result()


def _remove(conn: sqlite3.Connection, ids: load.Ids, kind: str, key: str, product_id: int) -> None:
    load.unload(conn, kind, key, ids)
    conn.execute("DELETE FROM products WHERE product_id = ?", (product_id,))


def _update(conn: sqlite3.Connection, db: Path, work: Path, config: dict | None, log) -> dict:
    """Inside the caller's write transaction: bring the index in line with the work area.
    Returns what changed (``changed`` False: the caller rolls back, the file stays as it was)."""
    found_version = schema.ensure(conn, str(db))
    software = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **{p: version(p) for p in PACKAGES},
    }
    run_id = conn.execute(
        "INSERT INTO runs (started_utc, finished_utc, work_area, config_sha256, code_version, "
        "software, n_added, n_updated, n_removed) VALUES (?, '', ?, ?, ?, ?, 0, 0, 0)",
        (_now(), str(work), config_sha256(config), code_version(), json.dumps(software)),
    ).lastrowid
    stored = _stored(conn)
    ids = load.Ids(conn)
    present = products.discover(work)
    gone, todo = _plan(work, stored, present)
    for kind, key in gone:
        _remove(conn, ids, kind, key, stored[(kind, key)][0])
    unreadable = {}
    for kind, batch in itertools.groupby(todo, key=lambda item: item[0].kind):
        batch = list(batch)
        if log:
            log.info(
                "loading %d %s product(s), %d of them new", len(batch), kind, sum(old is None for _, _, old in batch)
            )
        bulk = kind == "photometry" and len(batch) > conn.execute("SELECT count(*) FROM measured_groups").fetchone()[0]
        with schema.photometry_index_deferred(conn) if bulk else contextlib.nullcontext():
            for (product, stats, old), data, digests, error in _read_ahead(work, batch, ids.sources):
                if old:
                    _remove(conn, ids, product.kind, product.key, old[0])
                if error:
                    unreadable[product.path] = error
                    if log:
                        log.warning("%s not indexed: %s", product.path, error)
                    continue
                software = load.load(conn, product, ids, data)
                _record(conn, run_id, product, stats, digests, software)
    updated = [p.path for p, _, old in todo if old and p.path not in unreadable]
    added = [p.path for p, _, old in todo if not old and p.path not in unreadable]
    orphans = load.remove_orphans(conn) if gone or updated or unreadable else 0
    lost = [p.path for p, _, old in todo if old and p.path in unreadable]  # indexed before, unreadable now
    changed = bool(added or updated or gone or lost) or found_version != schema.SCHEMA_VERSION
    conn.execute(
        "UPDATE runs SET finished_utc = ?, n_added = ?, n_updated = ?, n_removed = ? WHERE run_id = ?",
        (_now(), len(added), len(updated), len(gone), run_id),
    )
    return {
        "database": str(db),
        "work_area": str(work),
        "changed": changed,
        "run_id": run_id if changed else None,
        "added": added,
        "updated": updated,
        "removed": [f"{kind} {key}" for kind, key in gone],
        "unreadable": unreadable,
        "orphans_removed": orphans,
        "n_products": len(present),
    }


def _in_place(db: Path, work: Path, config, log, busy_timeout_s: float) -> dict:
    """Update an existing index in one WAL transaction."""
    conn = connect_for_writing(db, busy_timeout_s)
    try:
        conn.execute("BEGIN IMMEDIATE")  # the write lock: a second indexer waits here
        summary = _update(conn, db, work, config, log)
        conn.execute("COMMIT" if summary["changed"] else "ROLLBACK")
        return summary
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _first_build(db: Path, work: Path, config, log, busy_timeout_s: float) -> dict:
    """Build a new index in a private file without a journal (half the writes of WAL) and
    link it into place whole; if another indexer published one meanwhile, update that."""
    for stale in db.parent.glob(f".{db.name}.building-*"):  # left by a killed indexer
        if not _running(int(stale.name.rsplit("-", 1)[1])):
            stale.unlink(missing_ok=True)
    building = db.with_name(f".{db.name}.building-{os.getpid()}")
    conn = connect_for_writing(building, busy_timeout_s, journal=False)
    try:
        conn.execute("BEGIN")
        summary = _update(conn, db, work, config, log)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")  # recorded in the file: every later writer uses WAL
        conn.close()
        os.link(building, db)  # atomic, and refuses to replace an index someone else published
    except FileExistsError:
        return _in_place(db, work, config, log, busy_timeout_s)
    finally:
        conn.close()
        building.unlink(missing_ok=True)
    return summary


def index_work_area(work: Path, db: Path, config: dict | None = None, log=None, busy_timeout_s: float = 600.0) -> dict:
    """Index every product under ``work`` into ``db``; return what changed.

    Raises schema.SchemaError for a file that is not an index of this code's schema.
    """
    work, db = Path(work).resolve(), Path(db)
    t0 = time.perf_counter()
    db.parent.mkdir(parents=True, exist_ok=True)
    build = _in_place if db.exists() else _first_build
    summary = build(db, work, config, log, busy_timeout_s)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if log:
        log.info(
            "%s: %d products, %d added, %d updated, %d removed, %d unreadable%s",
            db,
            summary["n_products"],
            len(summary["added"]),
            len(summary["updated"]),
            len(summary["removed"]),
            len(summary["unreadable"]),
            "" if summary["changed"] else " (no change: index left as it was)",
        )
    return summary


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
