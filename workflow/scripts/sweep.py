"""Snakemake job: the sweep across draws: variance of robust accuracy, angles vs circuits (robqunn.stages.sweep)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import sweep
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
params = params_of(snakemake)
sweep.run(
    params.sweep,
    params.study.seeds,
    list(snakemake.input.draws),
    Path(snakemake.output.tables[0]).parent,
    params.tracking,
)
exit_now()
