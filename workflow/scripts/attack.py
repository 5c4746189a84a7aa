"""Snakemake job (workflow.jobs: per_eps): the adversarial set of one (model, attack, eps)
(robqunn.stages.attack)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import attack
from robqunn.stages.attack import AttackJob
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
attack.run(
    AttackJob.of(params.attack, snakemake.wildcards.attack),
    job_of(snakemake, params, model_file=snakemake.input.model),
    Path(snakemake.output.sets[0]).parent,
    (float(snakemake.wildcards.eps),),
)
exit_now()
