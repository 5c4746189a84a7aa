if PER_STAGE:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

    rule exact:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            table=paths.EXACT_TABLE,
            sets=expand(paths.ADVERSARIAL, attack=EXACT, eps=EXACT_EPS, allow_missing=True),
        log:
            "logs/exact/seed{seed}/{model}.log",
        params:
            reads=job_params("exact"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/exact.py"
