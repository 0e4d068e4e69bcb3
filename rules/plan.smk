# `snakemake plan`: the planning summary of the run the current config asks for (jobs per
# stage, core-hours, peak memory, disk, and every group left out with why), printed and
# written to planning/summary.{txt,json}. It is remade whenever the plan changes.


rule plan:
    output:
        json=f"{WORK}/planning/summary.json",
        text=f"{WORK}/planning/summary.txt",
    params:
        summary=lambda wildcards: planning_summary(),
    log:
        log_path("planning", "summary"),
    benchmark:
        bench_path("planning", "summary")
    conda:
        "../envs/inventory.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    script:
        "../scripts/plan.py"
