# Every calibrated group -> images/{obs}-*.fits (WSClean), primary beam and its correction,
# image QA (JSON) and a thumbnail.


rule image:
    input:
        ms=AREA.calibrated(),
        record=AREA.calibrated(suffix=".cal.json"),
        calibrators=calibrator_files(config),  # real ones, and the simulated night's
        catalog=sky_catalog("imaging"),
    output:
        [AREA.image(suffix=suffix) for suffix in IMAGE if suffix != "-thumb.png"],
        report(
            AREA.image(suffix="-thumb.png"), caption="report/image.rst", category="Images", labels={"group": "{obs}"}
        ),
    params:
        prefix=lambda wildcards, output: output[0].removesuffix("-image.fits"),
        pointing_dec_deg=pointing_dec,
        settings=config["imaging"],
        instrument=instrument("site", "dish_diameter_m"),  # antenna positions: the MS's own
    log:
        AREA.log("image"),
    benchmark:
        AREA.benchmark("image")
    conda:
        "../envs/imaging.yaml"
    envmodules:
        "contimg/imaging",
    threads: 2
    # bench/image_full.py, bench/realtime: a full-size group (4096^2) takes ~120 s on 2 cores, peak 4.5 GiB
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(10),
    script:
        "../scripts/image.py"


rule mosaic:
    input:
        images=mosaic_images,
        photometry=mosaic_photometry,
    output:
        multiext(AREA.mosaic(suffix=""), *(ext for ext in MOSAIC if ext != ".png")),
        report(
            AREA.mosaic(suffix=".png"),
            caption="report/mosaic.rst",
            category="Mosaics",
            labels={"hour (UTC)": "{hour}"},
        ),
    params:
        prefixes=lambda wildcards: [AREA.image(obs, "") for obs in PLAN.mosaics[wildcards.hour]],
        pb_cut=config["imaging"]["pb_cut"],
    log:
        AREA.log("mosaic", "{hour}"),
    benchmark:
        AREA.benchmark("mosaic", "{hour}")
    wildcard_constraints:
        hour=r"\d{8}T\d{4}",
    conda:
        "../envs/imaging.yaml"
    envmodules:
        "contimg/imaging",
    threads: 2
    # bench/mosaic_full.py: 12 full-size images (an hour) take ~35 s on 2 cores, peak 4.0 GiB
    resources:
        mem_mb=per_attempt(6000),
        runtime=per_attempt(10),
    script:
        "../scripts/mosaic.py"
