# workflow.jobs: per_eps: exact verification, one job per (seed, model) (per_model: inside model_attacks).
if PER_EPS:

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
