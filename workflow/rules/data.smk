rule prepare:
    output:
        data=paths.PREPARED,
        checksum=paths.PREPARED_SIDECAR,
    log:
        "logs/prepare/seed{seed}.log",
    params:
        data=config["data"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/prepare.py"
