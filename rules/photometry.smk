# Every image -> photometry/{obs}.parquet (forced), -blind.parquet (detections), .json;
# all of them -> lightcurves/ (per-source metrics, variability candidates, new sources).


rule photometry:
    input:
        images=[AREA.image(suffix=suffix) for suffix in PHOTOMETRY_READS],
        catalog=sky_catalog("photometry"),
    output:
        [AREA.photometry(suffix=suffix) for suffix in PHOTOMETRY],
    params:
        image_prefix=lambda wildcards: AREA.image(wildcards.obs, ""),
        pb_cut=config["imaging"]["pb_cut"],
        settings=config["photometry"],
    log:
        AREA.log("photometry"),
    benchmark:
        AREA.benchmark("photometry")
    conda:
        "../envs/photometry.yaml"
    envmodules:
        "contimg/photometry",
    threads: 2
    # bench/realtime: a full-size group's photometry takes ~35 s on 2 cores, peak 1.4 GiB
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(5),
    script:
        "../scripts/photometry.py"


rule lightcurves:
    input:
        lightcurve_inputs,
    output:
        measurements=AREA.lightcurves("measurements.parquet"),
        sources=AREA.lightcurves("sources.parquet"),
        new_sources=AREA.lightcurves("new_sources.parquet"),
        plots=report(
            directory(AREA.lightcurves("plots")),
            patterns=["{source}.png"],
            caption="report/lightcurve.rst",
            category="Light curves",
            labels={"source": "{source}"},
        ),
    params:
        forced=lambda wildcards: [AREA.photometry(obs) for obs in lightcurve_groups()],
        blind=lambda wildcards: [AREA.photometry(obs, "-blind.parquet") for obs in lightcurve_groups()],
        variability=config["photometry"]["variability"],
    log:
        AREA.log("lightcurves", "lightcurves"),
    benchmark:
        AREA.benchmark("lightcurves", "lightcurves")
    conda:
        "../envs/photometry.yaml"
    envmodules:
        "contimg/photometry",
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(15),
    script:
        "../scripts/lightcurves.py"
