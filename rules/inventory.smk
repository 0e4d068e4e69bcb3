# Header-only scan of the incoming directory: groups, their status, calibrator transits;
# groups whose data failed a later job (quarantine/) are marked failed.


rule inventory:
    output:
        files=inv_path("files.csv"),
        groups=inv_path("groups.csv"),
    input:
        calibrators=config["inventory"]["calibrator_catalog"],
        simulated=f"{TRUTH}/simulation.json" if SIMULATE else [],
    params:
        settings=config["inventory"],
        incoming=INCOMING,
        n_subbands=config["instrument"]["band"]["n_subbands"],
        instrument=instrument("site"),
        # evaluated only when the inventory is planned (a year's incoming/ is 1.7 M files)
        listing=lambda wildcards: "simulated night" if SIMULATE else incoming_signature(),
        cache=inv_path("header_cache.csv"),
        quarantine=quarantine_path(),
        quarantined=directory_signature(quarantine_path(), lambda name: name.endswith(".json")),
    log:
        log_path("inventory", "inventory"),
    benchmark:
        bench_path("inventory", "inventory")
    conda:
        "../envs/inventory.yaml"
    threads: config["inventory"]["workers"]
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    script:
        "../scripts/inventory.py"
