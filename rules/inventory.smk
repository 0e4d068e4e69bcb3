# Header-only scan of the incoming directory: groups, their status, calibrator transits;
# groups whose data failed a later job (quarantine/) are marked failed.


rule inventory:
    input:
        calibrators=calibrator_files(config),  # real ones, and the simulated night's
        simulated=truth_path("simulation.json") if SIMULATE else [],
    output:
        files=AREA.inventory("files.csv"),
        groups=AREA.inventory(),
    params:
        settings=config["inventory"],
        incoming=INCOMING,
        n_subbands=config["instrument"]["band"]["n_subbands"],
        instrument=instrument("site"),
        # evaluated only when the inventory is planned (a year's incoming/ is 1.7 M files)
        listing=lambda wildcards: "simulated night" if SIMULATE else incoming_signature(),
        cache=AREA.inventory("header_cache.csv"),
        quarantine=AREA.quarantine(),
        quarantined=directory_signature(AREA.quarantine(), lambda name: name.endswith(".json")),
    log:
        AREA.log("inventory", "inventory"),
    benchmark:
        AREA.benchmark("inventory", "inventory")
    conda:
        "../envs/inventory.yaml"
    envmodules:
        "contimg/inventory",
    threads: config["inventory"]["workers"]
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    script:
        "../scripts/inventory.py"
