"""Indexing a survey-scale work area into SQLite, and cone-search light-curve queries on it.

A synthetic work area (`contimg.index.synthetic`): 10,000 groups with an image and a
forced-photometry table of 1,000 sources each (10 million photometry rows, 100,000
sources, 100 epochs per source). Measured in the same run:
  - ours: `contimg.index.indexer` building the index from nothing (photometry rows/s over
    the whole run, hashing and headers included), re-indexing with nothing changed, and
    re-indexing after 1 % of the photometry tables changed;
  - baseline: the obvious way, pandas `read_parquet` + `DataFrame.to_sql` of each table into
    an SQLite file with the same rows (no provenance, no checks), on the first 1,000 tables;
  - queries: `contimg.index.query.lightcurve` at random positions (30 arcsec), against the
    same query on the sources and photometry tables without their indexes (NOT INDEXED).

    .venv/bin/python bench/index_products.py [--keep /tmp/synthetic-work] [--images 10000]
"""

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from common import report, timed
from contimg.index import indexer, query, synthetic

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--keep", type=Path, help="make (or reuse) the synthetic work area here")
parser.add_argument("--images", type=int, default=10_000)
parser.add_argument("--rows", type=int, default=1_000, help="photometry rows per image")
parser.add_argument("--queries", type=int, default=200)
args = parser.parse_args()

n_sources = args.images * args.rows // 100  # every source in 100 images
scratch = Path(tempfile.mkdtemp(prefix="bench-index-"))
work = args.keep or scratch / "work"
if not (work / "inventory/groups.csv").exists():
    made_s, _ = timed(synthetic.write_work_area, work, args.images, args.rows, n_sources)
    print(f"synthetic work area: {made_s:.0f} s")
db = scratch / "products.sqlite"
n_rows = args.images * args.rows
os.sync()  # the synthetic files' write-back must not compete with the timed runs

build_s, _ = timed(indexer.index_work_area, work, db)
again_s, summary = timed(indexer.index_work_area, work, db)
assert not summary["changed"]
changed = sorted((work / "photometry").glob("*.parquet"))[::100]
for path in changed:
    os.utime(path)  # new mtime: the indexer must reload them
update_s, summary = timed(indexer.index_work_area, work, db)
assert len(summary["updated"]) == len(changed)

# baseline: pandas read_parquet + to_sql of the first 1,000 tables
baseline_db = scratch / "baseline.sqlite"
sample = sorted((work / "photometry").glob("*.parquet"))[:1000]
start = time.perf_counter()
with sqlite3.connect(baseline_db) as conn:
    for path in sample:
        pd.read_parquet(path).to_sql("photometry", conn, if_exists="append", index=False)
baseline_rate = len(sample) * args.rows / (time.perf_counter() - start)

# cone-search light curves at random source positions
rng = random.Random(1)
conn = query.connect_read_only(db)
positions = conn.execute("SELECT ra_deg, dec_deg FROM sources").fetchall()
targets = [rng.choice(positions) for _ in range(args.queries)]
times, epochs = [], []
for ra, dec in targets:
    start = time.perf_counter()
    columns, rows = query.lightcurve(conn, ra_deg=ra, dec_deg=dec, radius_arcsec=30.0)
    times.append(time.perf_counter() - start)
    epochs.append(len(rows))
unindexed = []
for ra, dec in targets[:3]:
    start = time.perf_counter()
    ids = [
        sid
        for sid, r, d in conn.execute("SELECT source_id, ra_deg, dec_deg FROM sources NOT INDEXED")
        if query.separation_arcsec(ra, dec, r, d) <= 30.0
    ]
    for sid in ids:
        conn.execute("SELECT * FROM photometry NOT INDEXED WHERE source_id = ? ORDER BY mjd", (sid,)).fetchall()
    unindexed.append(time.perf_counter() - start)
conn.close()

rate = n_rows / build_s
report(
    "index_products",
    {
        "images": args.images,
        "photometry_rows": n_rows,
        "sources": n_sources,
        "index_bytes": db.stat().st_size,
        "build_s": round(build_s, 1),
        "build_rows_per_s": round(rate),
        "baseline_to_sql_rows_per_s": round(baseline_rate),
        "build_vs_baseline": round(rate / baseline_rate, 2),
        "reindex_unchanged_s": round(again_s, 2),
        "reindex_1pc_changed_s": round(update_s, 2),
        "changed_tables": len(changed),
        "lightcurve_query_ms_median": round(1e3 * statistics.median(times), 2),
        "lightcurve_query_ms_p95": round(1e3 * sorted(times)[int(0.95 * len(times))], 2),
        "epochs_per_query_median": statistics.median(epochs),
        "unindexed_query_ms_median": round(1e3 * statistics.median(unindexed), 1),
        "query_speedup_vs_unindexed": round(statistics.median(unindexed) / statistics.median(times)),
    },
)
shutil.rmtree(scratch)
