# Two jobs per (seed, model), so TensorFlow and MLflow start twice per model: model_train computes the
# feature maps and trains the head; model_attacks (workflow.jobs: per_model) crafts every attack's sets,
# verifies the model exactly, brackets its digits' certified radii and runs its soundness checks (per_eps: the
# rules of attack.smk, exact.smk and checks.smk instead). Every (model, attack, eps) set is a named output, so the rules downstream are
# the same; a new attack setting reruns model_attacks, not the training. Its outputs are flagged update:
# Snakemake leaves them in place when it reruns the job, which keeps each one that is still current (its
# lineage: robqunn.stages.job.current_output) and computes the rest, so one more PGD eps costs that eps alone.


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


if not PER_EPS:

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
            radii=update(paths.RADII),
            checks=update(paths.CHECKS),
        log:
            "logs/model_attacks/seed{seed}/{model}.log",
        params:
            reads=job_params("model_attacks"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/model_attacks.py"
