"""Snakemake job: the sweep across draws: variance of robust accuracy, angles vs circuits (robqunn.stages.sweep)."""

from pathlib import Path

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import sweep
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
sweep(
    section_from_dict("sweep", snakemake.params.sweep),
    snakemake.params.seed,
    list(snakemake.input.draws),
    Path(snakemake.output.tables[0]).parent,
    section_from_dict("tracking", snakemake.params.tracking),
)
exit_now()
