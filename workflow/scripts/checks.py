"""Snakemake job: the extra attacks of the soundness checks on one model (robqunn.stages.checks)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import checks
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
checks(
    section_from_dict("checks", snakemake.params.checks),
    section_from_dict("attack_steps", snakemake.params.steps),
    job_of(snakemake, model_file=snakemake.input.model),
    snakemake.output.records,
)
exit_now()
