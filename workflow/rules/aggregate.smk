# The study across seeds: intervals, the soundness checklist, ansatz metrics against robustness, the claims.

# The report sorts categories and subcategories by name: the numbers put the study's verdicts first.
STUDY_VERDICTS = {"category": "1. Study", "subcategory": "1. The answer: headline numbers, claims, soundness checks"}
STUDY_ACCURACY = {"category": "1. Study", "subcategory": "2. Accuracy with 95% intervals"}
STUDY_ANSATZ = {"category": "1. Study", "subcategory": "3. Ansatz metrics and robustness"}
STUDY_NOISE = {"category": "1. Study", "subcategory": "4. Noise and finite shots"}


rule aggregate:
    input:
        tables=expand(paths.TABLE, seed=SEEDS),
        checks=expand(paths.CHECKS, seed=SEEDS, model=MODELS),
        ansatz=expand(paths.ANSATZ_METRICS, seed=SEEDS),
        radii=expand(paths.RADII, seed=SEEDS, model=MODELS),
    output:
        tables=[paths.study_table(name) for name in paths.STUDY_TABLES],
        headline=report(paths.study_html("headline"), caption="../report/headline.rst", **STUDY_VERDICTS),
        claims=report(paths.study_html("claims"), caption="../report/claims.rst", **STUDY_VERDICTS),
        checklist=report(paths.study_html("checklist"), caption="../report/checklist.rst", **STUDY_VERDICTS),
        summary=report(paths.study_html("summary_ci"), caption="../report/summary_ci.rst", **STUDY_ACCURACY),
        ansatz=report(paths.study_html("ansatz_metrics"), caption="../report/ansatz_metrics.rst", **STUDY_ANSATZ),
        radii=report(paths.study_html("radii"), caption="../report/radii.rst", **STUDY_ACCURACY),
        metrics=paths.STUDY_METRICS,
        headline_metrics=expand(paths.HEADLINE_METRICS, model=MODELS),
        whitebox=report(paths.study_figure(paths.WHITEBOX_CI_STEM), caption="../report/whitebox_ci.rst", **STUDY_ACCURACY),
        transfer=report(paths.study_figure(paths.TRANSFER_CI_STEM), caption="../report/transfer_ci.rst", **STUDY_ACCURACY),
        robustness=report(
            [paths.study_figure(paths.ROBUSTNESS_FIGURE_STEM, attack=attack) for attack in ATTACKS + [WORST_CASE, EXACT]],
            caption="../report/robustness_vs_entanglement.rst",
            **STUDY_ANSATZ,
        ),
        # the noise figure only where the study has noisy or finite-shot models: no empty section in the report
        noise=(
            [report(paths.study_figure(paths.NOISE_FIGURE_STEM), caption="../report/noise.rst", **STUDY_NOISE)]
            if PARAMS.noise.has_versions
            else []
        ),
    log:
        "logs/aggregate.log",
    params:
        reads=job_params("aggregate"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/aggregate.py"
