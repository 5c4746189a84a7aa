if PER_STAGE:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

    rule checks:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            records=paths.CHECKS,
        log:
            "logs/checks/seed{seed}/{model}.log",
        params:
            checks=config["checks"],
            steps=attack_steps(),
            tracking=config["tracking"],
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/checks.py"


rule ansatz_metrics:
    input:
        data=paths.PREPARED,
    output:
        metrics=paths.ANSATZ_METRICS,
    log:
        "logs/ansatz_metrics/seed{seed}.log",
    params:
        ansatz_metrics=config["ansatz_metrics"],
        circuit=config["circuit"],
        models=MODELS,
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/ansatz_metrics.py"


rule aggregate:
    input:
        tables=expand(paths.TABLE, seed=SEEDS),
        checks=expand(paths.CHECKS, seed=SEEDS, model=MODELS),
        ansatz=expand(paths.ANSATZ_METRICS, seed=SEEDS),
    output:
        results=paths.study_table("results"),
        summary=report(paths.study_table("summary_ci"), caption="../report/summary_ci.rst", category="Study"),
        checklist=report(paths.study_table("checklist"), caption="../report/checklist.rst", category="Study"),
        claims=report(paths.study_table("claims"), caption="../report/claims.rst", category="Study"),
        ansatz=report(paths.study_table("ansatz_metrics"), caption="../report/ansatz_metrics.rst", category="Study"),
        metrics=paths.STUDY_METRICS,
        whitebox=report(
            paths.study_figure(paths.WHITEBOX_CI_STEM), caption="../report/whitebox_ci.rst", category="Study"
        ),
        transfer=report(
            paths.study_figure(paths.TRANSFER_CI_STEM), caption="../report/transfer_ci.rst", category="Study"
        ),
        robustness=report(
            [paths.study_figure(paths.ROBUSTNESS_FIGURE_STEM, attack=attack) for attack in ATTACKS + [WORST_CASE, EXACT]],
            caption="../report/robustness_vs_entanglement.rst",
            category="Study",
        ),
    log:
        "logs/aggregate.log",
    params:
        claims=config["claims"],
        checks=config["checks"],
        tracking=config["tracking"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/aggregate.py"
