"""Snakemake job: Fig. 3a-e, example grids and the summary table of one seed (robqunn.stages.figures)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import figures
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
figures.run(
    snakemake.input.table,
    list(snakemake.input.examples),
    snakemake.input.data,
    Path(snakemake.output.whitebox[0]).parent,
)
exit_now()
