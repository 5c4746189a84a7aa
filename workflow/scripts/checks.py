"""Snakemake job: the extra attacks of the soundness checks on one model (robqunn.stages.checks)."""

from robqunn.runtime import exit_now
from robqunn.stages import checks
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
checks.run(
    params.checks,
    params.attack.steps,
    params.exact,
    job_of(snakemake, params, model_file=snakemake.input.model),
    snakemake.output.records,
)
exit_now()
