"""Snakemake job: the ansatz metrics of every QuNN circuit of one seed (robqunn.stages.ansatz_metrics)."""

from robqunn.config import model_names
from robqunn.runtime import exit_now
from robqunn.stages import ansatz_metrics
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
params = params_of(snakemake)
ansatz_metrics.run(
    params.ansatz_metrics,
    params.circuit,
    job_of(snakemake, params),
    model_names(params),
    snakemake.output.metrics,
)
exit_now()
