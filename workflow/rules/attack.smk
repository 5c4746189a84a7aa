# One rule per attack, one job per (seed, model): the job crafts the attack's whole eps grid, loading
# TensorFlow and the model once (docs/performance.md). The eps grid is in the outputs, one file per
# eps, so the plan names every (model, attack, eps) set.
if PER_STAGE:  # workflow.jobs: per_stage (per_model: rule model in model.smk)

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
                settings=config["attack"][attack],
                n_images=config["attack"]["n_images"],
                batch_size=config["attack"]["batch_size"],
                tracking=config["tracking"],
            conda:
                "../envs/robqunn.yaml"
            script:
                "../scripts/attack.py"
