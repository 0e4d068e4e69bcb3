# Calibrator groups -> caltables/{cal}/ (bandpass, gains, QA, plots); every group with a
# calibration in reach -> calibrated/{obs}.ms. Which calibrations a group may use is fixed
# from the inventory when the DAG is built (calibration/plan.csv records it); calibrations
# already solved and failed count as out of reach.


rule calibration_plan:
    input:
        groups=AREA.inventory(),
    output:
        AREA.calibration_plan(),
    params:
        settings=config["calibration"],
        dec_tolerance_deg=config["inventory"]["pointing_tolerance_deg"],
        failed=FAILED_CALIBRATIONS,
    log:
        AREA.log("calibration", "plan"),
    benchmark:
        AREA.benchmark("calibration", "plan")
    conda:
        "../envs/calibration.yaml"
    envmodules:
        "contimg/calibration",
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    script:
        "../scripts/calibration_plan.py"


rule solve_calibration:
    input:
        ms=AREA.ms("{cal}"),
        calibrators=calibrator_files(config),  # real ones, and the simulated night's
        field=sky_catalog("calibration", "field_catalog"),
    output:
        report(
            directory(AREA.caltables()),
            patterns=["{table}.png"],
            caption="report/calibration.rst",
            category="Calibration",
            labels={"calibrator group": "{cal}", "table": "{table}"},
        ),
    params:
        group=calibrator_group,
        settings=config["calibration"],
        instrument=instrument("site", "dish_diameter_m"),  # antenna positions: the MS's own
    log:
        AREA.log("solve_calibration", "{cal}"),
    benchmark:
        AREA.benchmark("solve_calibration", "{cal}")
    conda:
        "../envs/calibration.yaml"
    envmodules:
        "contimg/calibration",
    threads: 1
    # bench/calibrate_full.py: a full-size calibrator group takes ~280 s, peak 6.0 GiB
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(30),
    script:
        "../scripts/solve_calibration.py"


rule apply_calibration:
    input:
        ms=AREA.ms(),
        caltables=candidate_caltables,
    output:
        ms=directory(AREA.calibrated()),
        record=AREA.calibrated(suffix=".cal.json"),
    params:
        average_channels_to_hz=config["imaging"]["average_channels_to_hz"],
    log:
        AREA.log("apply_calibration"),
    benchmark:
        AREA.benchmark("apply_calibration")
    conda:
        "../envs/calibration.yaml"
    envmodules:
        "contimg/calibration",
    threads: 1
    # bench/calibrate_full.py: a full-size group takes ~14 s, peak 0.7 GiB
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(20),
    script:
        "../scripts/apply_calibration.py"
