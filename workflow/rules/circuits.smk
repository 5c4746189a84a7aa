# Per seed: a diagram of each circuit the study draws (robqunn.circuits.draw_figure).


rule circuits:
    output:
        diagrams=report(
            expand(paths.CIRCUIT_FIGURE, circuit=QUNN_CIRCUITS, allow_missing=True),
            caption="../report/circuits.rst",
            category="6. Circuits",
        ),
    log:
        "logs/circuits/seed{seed}.log",
    params:
        reads=job_params("circuits"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/circuits.py"
