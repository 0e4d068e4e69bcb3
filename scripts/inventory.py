"""Snakemake script: scan the incoming directory and write the files and groups tables."""

from pathlib import Path

from contimg import inventory, layout, quarantine, runlog, sky, tables

log = runlog.setup(snakemake.log[0])  # (snakemake injects this object)
params = snakemake.params
cache_path = Path(snakemake.params.cache)
cache = tables.read_files(cache_path) if cache_path.exists() else None
files, groups = inventory.build(
    Path(params.incoming),
    cache,
    params.settings,
    params.n_subbands,
    sky.read_catalog(snakemake.input.calibrators),
    layout.site_location(params.instrument["site"]),
)
records = quarantine.read_all(params.quarantine)
groups, stale = quarantine.mark_groups(groups, params.incoming, records)
for path in stale:
    log.info("%s: the group's files have changed since it failed: it is tried again", path)
tables.write_csv_atomic(files, snakemake.output.files)
tables.write_csv_atomic(groups, snakemake.output.groups)
tables.write_csv_atomic(files, cache_path)
for status, count in groups["status"].value_counts().items():
    log.info("%d group(s) %s", count, status)
for row in groups[groups["status"] != inventory.COMPLETE].itertuples():
    log.warning("group %s skipped (%s): %s", row.obs, row.status, row.reason)
for row in groups[groups["calibrator"] != ""].itertuples():
    log.info("group %s: calibrator %s transits (HA at mid %.2f deg)", row.obs, row.calibrator, row.calibrator_ha_deg)
