"""Snakemake job: the ansatz metrics of every QuNN circuit of one seed (robqunn.stages.ansatz_metrics)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import ansatz_metrics
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
ansatz_metrics(
    section_from_dict("ansatz_metrics", snakemake.params.ansatz_metrics),
    section_from_dict("circuit", snakemake.params.circuit),
    job_of(snakemake),
    snakemake.params.models,
    snakemake.output.metrics,
)
exit_now()
