"""Snakemake job: prepare the digits of one seed (robqunn.stages.prepare)."""

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import prepare
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
prepare(section_from_dict("data", snakemake.params.data), int(snakemake.wildcards.seed), snakemake.output.data)
exit_now()
