# Per seed: how much each circuit entangles and how expressive it is (robqunn.ansatz_metrics).


rule ansatz_metrics:
    input:
        data=paths.PREPARED,
    output:
        metrics=paths.ANSATZ_METRICS,
    log:
        "logs/ansatz_metrics/seed{seed}.log",
    params:
        reads=job_params("ansatz_metrics"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/ansatz_metrics.py"
