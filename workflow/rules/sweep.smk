# Where robustness comes from (robqunn.sweep): `snakemake --profile workflow/profiles/sweep`.


rule sweep_draw:
    input:
        data=paths.PREPARED,
    output:
        table=paths.SWEEP_DRAW,
    log:
        "logs/sweep/seed{seed}/draw{draw}.log",
    params:
        reads=job_params("sweep_draw", models=lambda wildcards: SWEEP_MODELS),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/sweep_draw.py"


rule sweep:
    input:
        draws=expand(paths.SWEEP_DRAW, seed=SEEDS, draw=range(PARAMS.sweep.n_draws)),
    output:
        tables=[
            report(paths.sweep_table(name), caption=f"../report/sweep_{name}.rst", category="7. Sweep")
            for name in paths.sweep_tables(PARAMS.sweep.n_validation)
        ],
        figures=report(
            [f"{paths.SWEEP_DIR}/{paths.SWEEP_FIGURE_STEM.format(eps=eps)}.png" for eps in SWEEP_EPS],
            caption="../report/sweep_figure.rst",
            category="7. Sweep",
        ),
    log:
        "logs/sweep/sweep.log",
    params:
        reads=job_params("sweep"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/sweep.py"
