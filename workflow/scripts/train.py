"""Snakemake job: train one model's head and save the end-to-end model (robqunn.stages.train)."""

from robqunn.config import section_from_dict
from robqunn.stages import train
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads)
train(
    section_from_dict("circuit", snakemake.params.circuit),
    section_from_dict("train", snakemake.params.train),
    int(snakemake.wildcards.seed),
    snakemake.wildcards.model,
    snakemake.input.data,
    snakemake.input.features,
    snakemake.output.model,
    snakemake.output.metrics,
    section_from_dict("tracking", snakemake.params.tracking),
)
