# workflow.jobs: per_model (params.yaml): two jobs per (seed, model) instead of seven, so TensorFlow and
# MLflow start twice per model: model_train computes the feature maps and trains the head; model_attacks
# crafts every attack's sets, verifies the model exactly and runs its soundness checks. Their outputs are
# the per-stage rules' files, every (model, attack, eps) set named, so the rules downstream are the same;
# a new attack setting reruns model_attacks, not the training. Its outputs are flagged update: Snakemake leaves
# them in place when it reruns the job, which keeps each one that is still current (its lineage:
# robqunn.stages.current_output) and computes the rest, so one more PGD eps costs that eps alone.
if not PER_STAGE:

    rule model_train:
        input:
            data=paths.PREPARED,
        output:
            features=paths.FEATURES,
            model=paths.MODEL,
            metrics=paths.TRAIN_METRICS,
        log:
            "logs/model_train/seed{seed}/{model}.log",
        params:
            reads=job_params("model_train"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/model_train.py"

    rule model_attacks:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            sets=[
                update(path)
                for attack in ATTACKS
                for path in expand(paths.ADVERSARIAL, attack=attack, eps=EPS[attack], allow_missing=True)
            ],
            exact_table=update(paths.EXACT_TABLE),
            exact_sets=[
                update(path) for path in expand(paths.ADVERSARIAL, attack=EXACT, eps=EXACT_EPS, allow_missing=True)
            ],
            checks=update(paths.CHECKS),
        log:
            "logs/model_attacks/seed{seed}/{model}.log",
        params:
            reads=job_params("model_attacks"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/model_attacks.py"
