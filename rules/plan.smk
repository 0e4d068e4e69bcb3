# `snakemake plan`: the planning summary of the run the current config asks for (jobs per
# stage, core-hours, peak memory, disk, and every group left out with why), printed and
# written to planning/summary.{txt,json}. It is remade whenever the plan changes.


rule plan:
    output:
        json=AREA.planning(".json"),
        text=AREA.planning(".txt"),
    params:
        summary=lambda wildcards: planning_summary(),
    log:
        AREA.log("planning", "summary"),
    benchmark:
        AREA.benchmark("planning", "summary")
    localrule: True
    conda:
        "../envs/inventory.yaml"
    envmodules:
        "contimg/inventory",
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    script:
        "../scripts/plan.py"
