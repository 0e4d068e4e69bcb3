"""Snakemake script: write and print the planning summary computed when the DAG was built."""

import json
from pathlib import Path

from contimg import plansummary

smk = snakemake  # (snakemake injects this object)
plan = dict(smk.params.summary)
Path(smk.output.json).write_text(json.dumps(plan, indent=1) + "\n")
Path(smk.output.text).write_text(plansummary.text(plan))
print(plansummary.text(plan), flush=True)
