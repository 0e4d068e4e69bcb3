# Every image -> photometry/{obs}.parquet (forced), -blind.parquet (detections), .json;
# all of them -> lightcurves/ (per-source metrics, variability candidates, new sources).


PHOTOMETRY_PRODUCTS = [".parquet", "-blind.parquet", ".json"]


rule photometry:
    output:
        [photometry_path(suffix) for suffix in PHOTOMETRY_PRODUCTS],
    input:
        images=[image_path(suffix) for suffix in ("-image.fits", "-residual.fits", "-pb.fits", "-qa.json")],
        catalog=config["photometry"]["catalog"],
    params:
        image_prefix=lambda wildcards: image_path("").format(obs=wildcards.obs),
        pb_cut=config["imaging"]["pb_cut"],
        settings=config["photometry"],
    log:
        log_path("photometry"),
    benchmark:
        bench_path("photometry")
    conda:
        "../envs/photometry.yaml"
    threads: 2
    # bench/realtime: a full-size group's photometry takes ~35 s on 2 cores, peak 1.4 GiB
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(5),
    script:
        "../scripts/photometry.py"


rule lightcurves:
    output:
        measurements=lightcurves_path("measurements.parquet"),
        sources=lightcurves_path("sources.parquet"),
        new_sources=lightcurves_path("new_sources.parquet"),
        plots=report(directory(lightcurves_path("plots")), patterns=["{source}.png"], caption="report/lightcurve.rst",
                     category="Light curves", labels={"source": "{source}"}),
    input:
        lightcurve_inputs,
    params:
        forced=lambda wildcards: expand(photometry_path(".parquet"), obs=lightcurve_groups()),
        blind=lambda wildcards: expand(photometry_path("-blind.parquet"), obs=lightcurve_groups()),
        variability=config["photometry"]["variability"],
    log:
        log_path("lightcurves", "lightcurves"),
    benchmark:
        bench_path("lightcurves", "lightcurves")
    conda:
        "../envs/photometry.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(15),
    script:
        "../scripts/lightcurves.py"
