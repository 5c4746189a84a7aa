"""Snakemake job (workflow.jobs: per_model): one model's feature maps and training
(robqunn.stages.model_train)."""

from robqunn.runtime import exit_now
from robqunn.stages import model_train
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
model_train.run(
    params.circuit,
    params.train,
    job_of(snakemake, params, model_file=snakemake.output.model),
    snakemake.output.features,
    snakemake.output.metrics,
)
exit_now()
