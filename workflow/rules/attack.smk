# One rule per attack, one job per (seed, model): the job crafts the attack's whole eps grid, loading
# TensorFlow and the model once (docs/performance.md). The eps grid is in the outputs, one file per
# eps, so the plan names every (model, attack, eps) set.
if PER_STAGE and not PER_EPS:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

    for attack in ATTACKS:

        rule:
            name:
                f"attack_{attack}"
            input:
                data=paths.PREPARED,
                model=paths.MODEL,
            output:
                sets=expand(paths.ADVERSARIAL, attack=attack, eps=EPS[attack], allow_missing=True),
            log:
                f"logs/attack/seed{{seed}}/{attack}/{{model}}.log",
            params:
                attack=attack,
                reads=job_params("attack", attack),
            conda:
                "../envs/robqunn.yaml"
            script:
                "../scripts/attack.py"

# workflow.jobs: per_eps: one job per (seed, model, attack, eps), for a cluster to run them all at once.
if PER_EPS:

    for attack in ATTACKS:

        rule:
            name:
                f"attack_{attack}_eps"
            input:
                data=paths.PREPARED,
                model=paths.MODEL,
            output:
                sets=[expand(paths.ADVERSARIAL, attack=attack, allow_missing=True)[0]],
            log:
                f"logs/attack/seed{{seed}}/{attack}/{{model}}/eps{{eps}}.log",
            wildcard_constraints:
                eps="|".join(re.escape(eps) for eps in EPS[attack]),
            params:
                attack=attack,
                reads=job_params("attack", attack),
            conda:
                "../envs/robqunn.yaml"
            script:
                "../scripts/attack.py"
