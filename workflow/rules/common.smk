from robqunn.config import AttackName, model_specs, params_from_dict
from robqunn.paths import StudyFiles

# The schema checked the structure; robqunn checks the values again, naming the valid choices,
# before any job runs.
PARAMS = params_from_dict(config)
SEEDS = list(PARAMS.study.seeds)
MODELS = [spec.name for spec in model_specs(PARAMS.study)]
QUNN_CIRCUITS = [name.removeprefix("qunn-") for name in MODELS if name != "cnn"]
ATTACKS = [attack.value for attack in AttackName]
TRANSFER_DIRECTIONS = ["cnn_to_qunn", "qunn_to_cnn"]
# Each attack's eps grid as it appears in file names (eps0.05.npz), as robqunn.stages.attack writes them.
EPS = {attack: [f"{eps:g}" for eps in PARAMS.attack.of(attack).eps] for attack in ATTACKS}


wildcard_constraints:
    seed=r"\d+",
    model=r"cnn|qunn-(none|full|linear|star|random)-(rot_ent|ent_rot)",


def get_final_output():
    """Per seed: every model's training metrics, the results table and the figures; across seeds:
    the study's intervals, checklist, ansatz metrics and claims."""
    return (
        expand("results/train/seed{seed}/{model}.json", seed=SEEDS, model=MODELS)
        + expand("results/tables/seed{seed}/results.parquet", seed=SEEDS)
        + expand("results/tables/seed{seed}/summary.csv", seed=SEEDS)
        + expand("results/circuits/seed{seed}/circuit_{qunn}.png", seed=SEEDS, qunn=QUNN_CIRCUITS)
        + ["results/study/claims.csv"]
    )


def get_models(wildcards):
    """Every trained model of one seed (each may be a transfer target)."""
    return expand("models/seed{seed}/{model}.keras", seed=wildcards.seed, model=MODELS)


def get_adversarial_sets(wildcards):
    """Every adversarial set of one seed: each model, attack and eps (robqunn.paths spells the names)."""
    return [str(p) for p in StudyFiles().adversarial_sets(PARAMS.attack, wildcards.seed, MODELS)]


def get_pgd_sets(wildcards):
    """The PGD sets of every model of one seed (shown as digit grids)."""
    return [str(p) for p in StudyFiles().adversarial_sets(PARAMS.attack, wildcards.seed, MODELS, [AttackName.PGD])]
