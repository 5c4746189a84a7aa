"""Snakemake job: the adversarial sets of one (model, attack), one file per eps of its grid, or (with the eps
wildcard, workflow.jobs per_eps) of one eps (robqunn.stages.attack)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import AttackJob, attack
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
eps = getattr(snakemake.wildcards, "eps", None)
attack(
    AttackJob.of(params.attack, snakemake.params.attack),
    job_of(snakemake, params, model_file=snakemake.input.model),
    Path(snakemake.output.sets[0]).parent,
    None if eps is None else (float(eps),),
)
exit_now()
