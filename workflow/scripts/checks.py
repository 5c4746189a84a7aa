"""Snakemake job: the extra attacks of the soundness checks on one model (robqunn.stages.checks)."""

from robqunn.config import pgd_steps_from_dict, section_from_dict
from robqunn.stages import checks
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads)
checks(
    section_from_dict("checks", snakemake.params.checks),
    pgd_steps_from_dict(snakemake.params.pgd_steps),
    snakemake.params.batch_size,
    job_of(snakemake, model_file=snakemake.input.model),
    snakemake.output.records,
)
