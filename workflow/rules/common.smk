from robqunn.config import model_specs, params_from_dict

# The schema checked the structure; robqunn checks the values again, naming the valid choices,
# before any job runs.
PARAMS = params_from_dict(config)
SEEDS = list(PARAMS.study.seeds)
MODELS = [spec.name for spec in model_specs(PARAMS.study)]


wildcard_constraints:
    seed=r"\d+",
    model=r"cnn|qunn-(none|full|linear|star|random)-(rot_ent|ent_rot)",


def get_final_output():
    """Every trained model's metrics, for every seed of the study."""
    return expand("results/train/seed{seed}/{model}.json", seed=SEEDS, model=MODELS)
