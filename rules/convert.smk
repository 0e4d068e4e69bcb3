# One complete group of 16 subband files -> ms/{obs}.ms, flagged inside the same job.


rule convert:
    input:
        files=group_files,
        strategy=config["conversion"]["aoflagger_strategy"],
        stations=station_table(),
    output:
        # calibration.temporary_ms: deleted once calibrated (and solved, for a calibrator group)
        ms=temp(directory(AREA.ms())) if config["calibration"]["temporary_ms"] else directory(AREA.ms()),
        flags=AREA.ms(suffix=".flags.json"),
    params:
        settings=config["conversion"],
        # the built-in layout only matters without a station table
        instrument=instrument(
            "site", "sefd_jy", "dish_diameter_m", "station_table", *([] if station_table() else ["layout"])
        ),
        quarantine=AREA.quarantine(),
    log:
        AREA.log("convert"),
    benchmark:
        AREA.benchmark("convert")
    conda:
        "../envs/conversion.yaml"
    envmodules:
        "contimg/conversion",
    threads: config["conversion"]["workers"]
    # bench/convert_full.py: a full-size group peaks at 3.3 GiB and takes ~35 s on 2 cores
    resources:
        mem_mb=per_attempt(6000),
        runtime=per_attempt(20),
    script:
        "../scripts/convert.py"
