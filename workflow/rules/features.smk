if PER_STAGE:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

    rule features:
        input:
            data=paths.PREPARED,
        output:
            features=paths.FEATURES,
        log:
            "logs/features/seed{seed}/{model}.log",
        params:
            reads=job_params("features"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/features.py"
