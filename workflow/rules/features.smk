rule feature_maps:
    input:
        data="data/prepared/seed{seed}.npz",
    output:
        features="data/features/seed{seed}/{model}.npz",
    log:
        "logs/feature_maps/seed{seed}/{model}.log",
    params:
        circuit=config["circuit"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/feature_maps.py"
