"""Snakemake job (workflow.jobs: per_model): one model's feature maps and training
(robqunn.stages.model_train)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import model_train
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
model_train(
    section_from_dict("circuit", snakemake.params.circuit),
    section_from_dict("train", snakemake.params.train),
    job_of(snakemake, model_file=snakemake.output.model),
    snakemake.output.features,
    snakemake.output.metrics,
)
exit_now()
