# workflow.jobs: per_eps: the soundness checks' extra attacks, one job per (seed, model) (per_model: inside
# model_attacks in model.smk).
if PER_EPS:

    rule checks:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            records=paths.CHECKS,
        log:
            "logs/checks/seed{seed}/{model}.log",
        params:
            reads=job_params("checks"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/checks.py"
