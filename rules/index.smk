# Every product of the work area -> the SQLite index (index.database, default
# {work}/products.sqlite) that contimg-query reads. The index is updated in place in one
# transaction, so it is not a Snakemake output (Snakemake would delete it before the job and
# readers would lose it); index/last_run.json records what the job changed.


rule index:
    input:
        lambda wildcards: product_targets(),
    output:
        summary=AREA.index("last_run.json"),
        qa_table=AREA.index("image_qa.csv"),
        qa_page=report(
            AREA.index("image_qa.html"),
            caption="report/image_qa.rst",
            category="Quality",
            labels={"table": "image QA"},
        ),
    params:
        work=lambda wildcards: WORK,  # (a function: the linter takes a path parameter for a missing input)
        database=config["index"]["database"],
        busy_timeout_s=config["index"]["busy_timeout_s"],
        config=config,  # the index records its digest
    log:
        AREA.log("index", "index"),
    benchmark:
        AREA.benchmark("index", "index")
    # SQLite's WAL needs the writer and its readers on one host: run it where snakemake runs
    localrule: True
    conda:
        "../envs/indexing.yaml"
    envmodules:
        "contimg/indexing",
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    script:
        "../scripts/index_products.py"
