"""Snakemake job: feature maps of one model's frozen layer (robqunn.stages.features)."""

from robqunn.runtime import exit_now
from robqunn.stages import features
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
features(params.circuit, job_of(snakemake, params), snakemake.output.features)
exit_now()
