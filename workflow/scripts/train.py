"""Snakemake job: train one model's head and save the end-to-end model (robqunn.stages.train)."""

from robqunn.runtime import exit_now
from robqunn.stages import train
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
train(
    params.circuit,
    params.train,
    job_of(snakemake, params, model_file=snakemake.output.model),
    snakemake.input.features,
    snakemake.output.metrics,
)
exit_now()
