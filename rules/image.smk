# Every calibrated group -> images/{obs}-*.fits (WSClean), primary beam and its correction,
# image QA (JSON) and a thumbnail.

IMAGE_PRODUCTS = ["-image.fits", "-residual.fits", "-psf.fits", "-model.fits", "-pb.fits", "-image-pb.fits",
                  "-qa.json", "-thumb.png"]  # fmt: skip


rule image:
    output:
        [image_path(suffix) for suffix in IMAGE_PRODUCTS if suffix != "-thumb.png"],
        report(image_path("-thumb.png"), caption="report/image.rst", category="Images", labels={"group": "{obs}"}),
    input:
        ms=calibrated_path(".ms"),
        record=calibrated_path(".cal.json"),
        calibrators=config["inventory"]["calibrator_catalog"],
        catalog=config["imaging"]["catalog"],
    params:
        prefix=lambda wildcards, output: output[0].removesuffix("-image.fits"),
        pointing_dec_deg=pointing_dec,
        settings=config["imaging"],
        instrument=instrument("site", "dish_diameter_m"),  # antenna positions: the MS's own
    log:
        log_path("image"),
    benchmark:
        bench_path("image")
    conda:
        "../envs/imaging.yaml"
    threads: 2
    # bench/image_full.py, bench/realtime: a full-size group (4096^2) takes ~120 s on 2 cores, peak 4.5 GiB
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(10),
    script:
        "../scripts/image.py"


rule mosaic:
    wildcard_constraints:
        hour=r"\d{8}T\d{4}",
    output:
        multiext(f"{WORK}/mosaics/{{hour}}", ".fits", "-weight.fits", "-residual.fits", ".json"),
        report(f"{WORK}/mosaics/{{hour}}.png", caption="report/mosaic.rst", category="Mosaics", labels={"hour (UTC)": "{hour}"}),
    input:
        mosaic_images,
    params:
        prefixes=lambda wildcards: [image_path("").format(obs=obs) for obs in MOSAICS[wildcards.hour]],
        pb_cut=config["imaging"]["pb_cut"],
    log:
        log_path("mosaic", "{hour}"),
    benchmark:
        bench_path("mosaic", "{hour}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    # not yet measured at full size (an hour is ~12 images of 4096^2): generous until it is
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(30),
    script:
        "../scripts/mosaic.py"
