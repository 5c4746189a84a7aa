if PER_STAGE:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

    rule train:
        input:
            data=paths.PREPARED,
            features=paths.FEATURES,
        output:
            model=paths.MODEL,
            metrics=paths.TRAIN_METRICS,
        log:
            "logs/train/seed{seed}/{model}.log",
        params:
            reads=job_params("train"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/train.py"
