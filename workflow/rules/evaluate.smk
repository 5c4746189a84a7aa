rule evaluate:
    input:
        models=get_models,
        sets=get_adversarial_sets,
    output:
        csv="results/tables/seed{seed}/results.csv",
        parquet="results/tables/seed{seed}/results.parquet",
    log:
        "logs/evaluate/seed{seed}.log",
    params:
        attack=config["attack"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/evaluate.py"
