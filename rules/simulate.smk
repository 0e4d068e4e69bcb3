# The embedded default data set: a simulated night written into the incoming directory
# (and, with simulation.survey, the survey catalogue the workflow is given of its sky).


rule simulate_night:
    input:
        sky=config["simulation"]["sky_catalog"],
        calibrators=config["simulation"]["calibrator_catalog"] or [],
        stations=station_table("simulation"),
    output:
        summary=truth_path("simulation.json"),
        sky=truth_path("sky.csv"),
        lightcurves=truth_path("lightcurves.csv"),
        instrument=truth_path("instrument.npz"),
        survey=[truth_path(SIMULATED_SURVEY)] if config["simulation"]["survey"] else [],
    params:
        simulation=config["simulation"],
        # the built-in layout only matters without a station table of the simulated array
        instrument=instrument(
            "site",
            "dish_diameter_m",
            "band",
            "integration_s",
            "integrations_per_file",
            *([] if station_table("simulation") else ["layout"]),
        ),
        incoming=INCOMING,
    log:
        AREA.log("simulate", "night"),
    benchmark:
        AREA.benchmark("simulate", "night")
    conda:
        "../envs/simulation.yaml"
    envmodules:
        "contimg/simulation",
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    script:
        "../scripts/simulate_night.py"
