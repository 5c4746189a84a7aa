rule prepare_data:
    output:
        data="data/prepared/seed{seed}.npz",
        checksum="data/prepared/seed{seed}.json",
    log:
        "logs/prepare_data/seed{seed}.log",
    params:
        data=config["data"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/prepare_data.py"
