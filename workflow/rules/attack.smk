# workflow.jobs: per_eps: one job per (seed, model, attack, eps), for a cluster to run them all at once
# (per_model: model_attacks in model.smk crafts every attack's grid in one job).
if PER_EPS:

    rule attack:
        input:
            data=paths.PREPARED,
            model=paths.MODEL,
        output:
            sets=[paths.ADVERSARIAL],
        log:
            "logs/attack/seed{seed}/{attack}/{model}/eps{eps}.log",
        wildcard_constraints:
            attack="|".join(ATTACKS),
            eps="|".join(sorted({re.escape(eps) for attack in ATTACKS for eps in EPS[attack]})),
        params:
            reads=job_params("attack"),
        conda:
            "../envs/robqunn.yaml"
        script:
            "../scripts/attack.py"
