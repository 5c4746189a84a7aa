rule train:
    input:
        data="data/prepared/seed{seed}.npz",
        features="data/features/seed{seed}/{model}.npz",
    output:
        model="models/seed{seed}/{model}.keras",
        metrics="results/train/seed{seed}/{model}.json",
    log:
        "logs/train/seed{seed}/{model}.log",
    params:
        circuit=config["circuit"],
        train=config["train"],
        tracking=config["tracking"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/train.py"
