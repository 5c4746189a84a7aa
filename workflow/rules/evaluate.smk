rule evaluate:
    input:
        data=paths.PREPARED,
        models=get_models,
        sets=get_adversarial_sets,
    output:
        csv=paths.TABLE,
        parquet=paths.TABLE_PARQUET,
    log:
        "logs/evaluate/seed{seed}.log",
    params:
        attack=config["attack"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/evaluate.py"
