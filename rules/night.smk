# planning.unit night (reprocessing): one job per night runs that night's groups through the
# per-group rules (convert, apply_calibration, image, photometry, mosaic) in an inner
# Snakemake on the job's cores, so the run itself plans and schedules ~1 job per night.
# Calibrations are solved by the outer run first (a night's groups may use the next night's).


rule night:
    input:
        night_caltables,
    output:
        AREA.night(),
    params:
        targets=night_targets,
        snakefile=workflow.main_snakefile,
        # what the night's products depend on: a change re-runs the night, whose inner run
        # then re-does only what is outdated (as a group-unit run would)
        groups=lambda wildcards: PLAN.night_digest(wildcards.night),
        settings={key: value for key, value in config.items() if key not in ("planning", "index")},
    log:
        AREA.log("night", "{night}"),
    benchmark:
        AREA.benchmark("night", "{night}")
    wildcard_constraints:
        night=r"\d{8}",
    conda:
        "../envs/night.yaml"
    envmodules:
        "contimg/night",
    threads: config["planning"]["night_job"]["threads"]
    resources:
        mem_mb=per_attempt(config["planning"]["night_job"]["mem_mb"]),
        runtime=per_attempt(config["planning"]["night_job"]["runtime_min"]),
    script:
        "../scripts/night.py"
