# Per seed: the paper's figures (white-box, transfer), the attack gaps, example digits, the summary page.


rule figures:
    input:
        table=paths.TABLE,
        data=paths.PREPARED,
        examples=get_pgd_sets,
    output:
        whitebox=report(
            expand(paths.WHITEBOX_FIGURE, attack=ATTACKS + [WORST_CASE], allow_missing=True),
            caption="../report/whitebox.rst",
            category="2. Fig. 3a-c: white-box",
        ),
        transfer=report(
            expand(paths.TRANSFER_FIGURE, direction=paths.TRANSFER_DIRECTIONS, allow_missing=True),
            caption="../report/transfer.rst",
            category="3. Fig. 3d-e: transfer",
        ),
        gaps=report(
            paths.ATTACK_GAP_FIGURE,
            caption="../report/attack_gap.rst",
            category="2. Fig. 3a-c: white-box",
        ),
        examples=report(
            expand(paths.EXAMPLES_FIGURE, model=MODELS, allow_missing=True),
            caption="../report/examples.rst",
            category="5. Adversarial examples",
        ),
        summary=paths.SUMMARY,
        summary_page=report(paths.SUMMARY_HTML, caption="../report/summary.rst", category="4. Summary per seed"),
        curves=paths.WHITEBOX_CURVES,
    log:
        "logs/figures/seed{seed}.log",
    params:
        reads=job_params("figures"),
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/figures.py"
