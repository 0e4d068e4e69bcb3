# Every image -> photometry/{obs}.parquet (forced), -blind.parquet (detections), .json;
# a night's tables -> lightcurves/nights/{night}.parquet (and its new sources);
# all nights -> lightcurves/ (per-source metrics, variability candidates, new sources).


rule photometry:
    input:
        images=[AREA.image(suffix=suffix) for suffix in PHOTOMETRY_READS],
        catalog=sky_catalog("photometry"),
    output:
        [AREA.photometry(suffix=suffix) for suffix in PHOTOMETRY],
    params:
        image_prefix=lambda wildcards: AREA.image(wildcards.obs, ""),
        pb_cut=config["imaging"]["pb_cut"],
        settings=group_photometry(config["photometry"]),
        instrument=instrument("dish_diameter_m"),  # the beam beyond the image (aliases)
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


rule night_measurements:
    input:
        night_measurement_inputs,
    output:
        forced=AREA.night_measurements(),
        new_sources=AREA.night_measurements(suffix="-new_sources.parquet"),
    params:
        forced=lambda wildcards: night_photometry(wildcards, ".parquet"),
        blind=lambda wildcards: night_photometry(wildcards, "-blind.parquet"),
    log:
        AREA.log("lightcurves", "{night}"),
    benchmark:
        AREA.benchmark("lightcurves", "{night}")
    wildcard_constraints:
        night=NIGHT,
    conda:
        "../envs/photometry.yaml"
    envmodules:
        "contimg/photometry",
    threads: 1
    # bench/lightcurves_year.py: a night of 288 groups takes ~1 s, peak ~0.3 GiB
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(5),
    script:
        "../scripts/night_measurements.py"


rule lightcurves:
    input:
        forced=lambda wildcards: night_measurements(".parquet"),
        new_sources=lambda wildcards: night_measurements("-new_sources.parquet"),
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
        variability=config["photometry"]["variability"],
    log:
        AREA.log("lightcurves", "lightcurves"),
    benchmark:
        AREA.benchmark("lightcurves", "lightcurves")
    conda:
        "../envs/photometry.yaml"
    envmodules:
        "contimg/photometry",
    threads: 2
    # bench/lightcurves_year.py: a year (10 M measurements, 9,120 sources) ~20 s, peak 4.0 GiB
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(15),
    script:
        "../scripts/lightcurves.py"
