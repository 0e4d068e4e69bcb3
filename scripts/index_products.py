"""Index every product of a work area into SQLite (and write the image QA table of the index
for the report): the workflow's last rule, or standalone.

Standalone (any work area, e.g. a copy of a release):
    python scripts/index_products.py [--config config/config.yaml] [--work DIR] [--db FILE]
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

from contimg import config as cfgmod
from contimg import runlog
from contimg.index import indexer, qa_table


def index(config: dict, work: str, db: Path, log, busy_timeout_s: float, summary: Path | None = None) -> dict:
    result = indexer.index_work_area(Path(work), db, config, log, busy_timeout_s)
    if summary is not None:
        summary.write_text(json.dumps(result, indent=1) + "\n")
    return result


if "snakemake" in globals():
    smk = globals()["snakemake"]
    db = indexer.database_path(smk.params.work, smk.params.database)
    index(
        smk.params.config,
        smk.params.work,
        db,
        runlog.setup(smk.log[0]),
        smk.params.busy_timeout_s,
        Path(smk.output.summary),
    )
    qa_table.write(db, Path(smk.output.qa_table), Path(smk.output.qa_page))
else:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--work", help="the work area (default: the config's paths.work)")
    parser.add_argument("--db", type=Path, help="the index (default: the config's index.database in the work area)")
    args = parser.parse_args()
    try:
        cfg = cfgmod.validate(yaml.safe_load(args.config.read_text()), Path(__file__).parents[1] / "config/schema.yaml")
    except (OSError, cfgmod.ConfigError) as err:
        sys.exit(f"index_products: {args.config}: {err}")
    work = args.work or cfg["paths"]["work"]
    db = args.db or indexer.database_path(work, cfg["index"]["database"])
    index(cfg, work, db, runlog.setup(None), cfg["index"]["busy_timeout_s"])
