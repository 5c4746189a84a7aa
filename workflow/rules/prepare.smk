# Per seed: the digits of the study, split and checked (robqunn.data.prepare_dataset).


rule prepare:
    output:
        data=paths.PREPARED,
        checksum=paths.PREPARED_SIDECAR,
    log:
        "logs/prepare/seed{seed}.log",
    params:
        reads=job_params("prepare"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/prepare.py"
