"""Snakemake script: record which calibrations each complete group may use (calibration/plan.csv)."""

from contimg import runlog, tables
from contimg.calibration import plan

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
settings = snakemake.params.settings
table = plan.plan(
    tables.read_groups(snakemake.input.groups),
    settings["validity_hours"],
    snakemake.params.dec_tolerance_deg,
    settings["max_candidates"],
    snakemake.params.failed,
)
for column in ("candidates", "calibrators", "hours_away"):
    table[column] = table[column].map(lambda values: " ".join(str(v) for v in values))
tables.write_csv_atomic(table, snakemake.output[0])
for row in table[table["reason"] != ""].itertuples():
    log.warning("group %s is skipped: %s", row.obs, row.reason)
log.info("%d of %d groups have a calibration in reach", (table["reason"] == "").sum(), len(table))
