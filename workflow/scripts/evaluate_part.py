"""Snakemake job (workflow.jobs per_eps): one (source, attack)'s sets on one target (robqunn.stages.evaluate_part)."""

from robqunn.runtime import exit_now
from robqunn.stages import evaluate_part
from robqunn.stages.evaluate_part import Part
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
wildcards, inputs = snakemake.wildcards, snakemake.input
evaluate_part.run(
    Part(wildcards.target, snakemake.output[0]),
    {wildcards.source: inputs.source, wildcards.target: inputs.target},
    list(inputs.sets),
    inputs.data,
    params_of(snakemake).noise,
)
exit_now()
