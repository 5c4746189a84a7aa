# workflow.jobs: per_eps: exact verification and certified radii, one job each per (seed, model) (per_model: inside
# model_attacks).
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

    rule radius:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            radii=paths.RADII,
        log:
            "logs/radius/seed{seed}/{model}.log",
        params:
            reads=job_params("radius"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/radius.py"
