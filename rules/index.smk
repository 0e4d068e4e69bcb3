# Every product of the work area -> the SQLite index (index.database, default
# {work}/products.sqlite) that contimg-query reads. The index is updated in place in one
# transaction, so it is not a Snakemake output (Snakemake would delete it before the job and
# readers would lose it); index/last_run.json records what the job changed.


rule index:
    output:
        summary=f"{WORK}/index/last_run.json",
        qa_table=f"{WORK}/index/image_qa.csv",
        qa_page=report(f"{WORK}/index/image_qa.html", caption="report/image_qa.rst", category="Quality",
                       labels={"table": "image QA"}),
    input:
        lambda wildcards: product_targets(),
    log:
        log_path("index", "index"),
    benchmark:
        bench_path("index", "index")
    conda:
        "../envs/indexing.yaml"
    # SQLite's WAL needs the writer and its readers on one host: run it where snakemake runs
    localrule: True
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    script:
        "../scripts/index_products.py"
