# The embedded default data set: a simulated night written into the incoming directory.


rule simulate_night:
    output:
        summary=f"{TRUTH}/simulation.json",
        sky=f"{TRUTH}/sky.csv",
        lightcurves=f"{TRUTH}/lightcurves.csv",
        instrument=f"{TRUTH}/instrument.npz",
    input:
        sky=config["simulation"]["sky_catalog"],
        stations=station_table("simulation"),
    params:
        simulation=config["simulation"],
        # the built-in layout only matters without a station table of the simulated array
        instrument=instrument("site", "dish_diameter_m", "band", "integration_s", "integrations_per_file",
                              *([] if station_table("simulation") else ["layout"])),
        incoming=INCOMING,
    log:
        log_path("simulate", "night"),
    benchmark:
        bench_path("simulate", "night")
    conda:
        "../envs/simulation.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    script:
        "../scripts/simulate_night.py"
