if not PER_EPS:

    rule evaluate:
        input:
            data=paths.PREPARED,
            models=get_models,
            sets=get_adversarial_sets,
        output:
            csv=paths.TABLE,
            parquet=paths.TABLE_PARQUET,
        log:
            "logs/evaluate/seed{seed}.log",
        params:
            reads=job_params("evaluate"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/evaluate.py"


# workflow.jobs: per_eps: one job per (seed, source, attack, target), then one merging the seed's table.
if PER_EPS:

    rule evaluate_part:
        input:
            data=paths.PREPARED,
            source=paths.MODEL.replace("{model}", "{source}"),
            target=paths.MODEL.replace("{model}", "{target}"),
            sets=get_source_attack_sets,
        output:
            paths.EVALUATION_PART,
        log:
            "logs/evaluate_part/seed{seed}/{attack}/{source}/{target}.log",
        wildcard_constraints:
            source=vocabulary.model_name_regex(),
            target=vocabulary.model_name_regex(),
            attack="|".join(ATTACKS + [EXACT]),
        params:
            reads=job_params("evaluate", models=lambda wildcards: [wildcards.target]),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/evaluate_part.py"

    rule evaluate_parts:
        input:
            parts=get_evaluation_parts,
        output:
            csv=paths.TABLE,
            parquet=paths.TABLE_PARQUET,
        log:
            "logs/evaluate_parts/seed{seed}.log",
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/evaluate_parts.py"
