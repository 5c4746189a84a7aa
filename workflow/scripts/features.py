"""Snakemake job: feature maps of one model's frozen layer (robqunn.stages.features)."""

from robqunn.config import section_from_dict
from robqunn.stages import features
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads)
features(
    section_from_dict("circuit", snakemake.params.circuit),
    int(snakemake.wildcards.seed),
    snakemake.wildcards.model,
    snakemake.input.data,
    snakemake.output.features,
)
