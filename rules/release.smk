# Every product, then release/{name}/MANIFEST: config, code and tool versions, the lock
# file, and the checksums of every input and product (contimg.release). Written once:
# write-protected, and a forced re-run puts the first MANIFEST back instead of writing a
# new one. `contimg-release verify` re-runs a release from its MANIFEST and compares.


rule release:
    input:
        lambda wildcards: all_targets(),
    output:
        protected(AREA.release()),
    params:
        workdir=os.getcwd(),
        config=config,  # the MANIFEST records it
    log:
        AREA.log("release", "{name}"),
    benchmark:
        AREA.benchmark("release", "{name}")
    # checksums of the work area where it is: run it where snakemake runs
    localrule: True
    conda:
        "../envs/release.yaml"
    envmodules:
        "contimg/release",
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    script:
        "../scripts/release.py"
