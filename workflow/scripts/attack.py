"""Snakemake job: the adversarial sets of one (model, attack), one file per eps of its grid, or (workflow.jobs
per_eps) of one eps (robqunn.stages.attack)."""

from pathlib import Path

from robqunn.config import AttackName, section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import AttackJob, attack
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
name = AttackName(snakemake.params.attack)
settings = section_from_dict(f"attack.{name.value}", snakemake.params.settings)
attack(
    AttackJob(name, settings, snakemake.params.n_images, snakemake.params.batch_size),
    job_of(snakemake, model_file=snakemake.input.model),
    Path(snakemake.output.sets[0]).parent,
    None if snakemake.params.eps_values is None else tuple(snakemake.params.eps_values),
)
exit_now()
