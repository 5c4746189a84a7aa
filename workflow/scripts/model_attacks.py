"""Snakemake job (workflow.jobs: per_model): one model's attacks, exact verification and soundness checks
(robqunn.stages.model_attacks)."""

from pathlib import Path

from robqunn import paths
from robqunn.config import AttackName, section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import AttackJob, ModelAttacksOutputs, ModelAttacksSettings, model_attacks
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params, output, wildcards = snakemake.params, snakemake.output, snakemake.wildcards
attacks = [
    AttackJob(AttackName(name), section_from_dict(f"attack.{name}", raw), params.n_images, params.batch_size)
    for name, raw in params.attacks.items()
]
model_attacks(
    ModelAttacksSettings(
        attacks,
        section_from_dict("exact", params.exact),
        params.n_images,
        section_from_dict("checks", params.checks),
        section_from_dict("attack_steps", params.steps),
    ),
    job_of(snakemake, model_file=snakemake.input.model),
    ModelAttacksOutputs(
        {
            attack.name: Path(
                paths.ATTACK_MODEL_DIR.format(seed=wildcards.seed, attack=attack.name.value, model=wildcards.model)
            )
            for attack in attacks
        },
        output.exact_table,
        Path(output.exact_sets[0]).parent,
        output.checks,
    ),
)
exit_now()
