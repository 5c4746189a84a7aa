"""Snakemake job (workflow.jobs per_eps): a seed's results table from its evaluation parts
(robqunn.stages.evaluate_parts)."""

from robqunn.runtime import exit_now
from robqunn.stages import evaluate_parts
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
evaluate_parts.run(list(snakemake.input.parts), snakemake.output.csv)
exit_now()
