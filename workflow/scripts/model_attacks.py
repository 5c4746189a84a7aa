"""Snakemake job (workflow.jobs: per_model): one model's attacks, exact verification, certified radii and soundness
checks (robqunn.stages.model_attacks)."""

from pathlib import Path

from robqunn import paths
from robqunn.runtime import exit_now
from robqunn.stages import model_attacks
from robqunn.stages.attack import AttackJob
from robqunn.stages.model_attacks import ModelAttacksOutputs, ModelAttacksSettings
from robqunn.vocabulary import AttackName
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params, output, wildcards = params_of(snakemake), snakemake.output, snakemake.wildcards
attacks = [AttackJob.of(params.attack, name) for name in AttackName]
model_attacks.run(
    ModelAttacksSettings(attacks, params.exact, params.attack.n_images, params.checks, params.attack.steps),
    job_of(snakemake, params, model_file=snakemake.input.model),
    ModelAttacksOutputs(
        {
            attack.name: Path(
                paths.ATTACK_MODEL_DIR.format(seed=wildcards.seed, attack=attack.name.value, model=wildcards.model)
            )
            for attack in attacks
        },
        output.exact_table,
        Path(output.exact_sets[0]).parent,
        output.radii,
        output.checks,
    ),
)
exit_now()
