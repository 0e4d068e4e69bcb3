# The survey's catalogue files (survey section) -> catalogs/survey_dec{strip}.csv: the
# workflow's catalogue around one declination strip, for the catalogue keys that say `survey`.


rule survey_catalog:
    input:
        config["survey"]["files"],
    output:
        AREA.survey_catalog(),
    params:
        dec_deg=lambda wildcards: int(wildcards.strip),
        settings=config["survey"],
    log:
        AREA.log("catalogs", "survey_dec{strip}"),
    benchmark:
        AREA.benchmark("catalogs", "survey_dec{strip}")
    wildcard_constraints:
        strip=STRIP,
    conda:
        "../envs/inventory.yaml"
    envmodules:
        "contimg/inventory",
    threads: 1
    # NVSS whole (1.8 M rows, 0.4 GB FITS): ~1 min, peak ~2 GiB
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    script:
        "../scripts/survey_catalog.py"
