"""Snakemake job: train one model's head and save the end-to-end model (robqunn.stages.train)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import train
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
train(
    section_from_dict("circuit", snakemake.params.circuit),
    section_from_dict("train", snakemake.params.train),
    job_of(snakemake, model_file=snakemake.output.model),
    snakemake.input.features,
    snakemake.output.metrics,
)
exit_now()
