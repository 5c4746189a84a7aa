# One rule per attack, one job per (seed, model): the job crafts the attack's whole eps grid, loading
# TensorFlow and the model once (see README, "Why a job per (model, attack)"). The eps grid is in the
# outputs, one file per eps, so the plan names every (model, attack, eps) set.
for attack in ATTACKS:

    rule:
        name:
            f"attack_{attack}"
        input:
            data="data/prepared/seed{seed}.npz",
            model="models/seed{seed}/{model}.keras",
        output:
            sets=expand("results/adversarial/seed{{seed}}/{{model}}/{attack}/eps{eps}.npz", attack=attack, eps=EPS[attack]),
        log:
            f"logs/attack/seed{{seed}}/{{model}}/{attack}.log",
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
