"""Snakemake job: feature maps of one model's frozen layer (robqunn.stages.features)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import features
from robqunn.workflow import job_of, log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
features(section_from_dict("circuit", snakemake.params.circuit), job_of(snakemake), snakemake.output.features)
exit_now()
