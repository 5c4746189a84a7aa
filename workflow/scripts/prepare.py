"""Snakemake job: prepare the digits of one seed (robqunn.stages.prepare)."""

from robqunn.runtime import exit_now
from robqunn.stages import prepare
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
prepare.run(params_of(snakemake).data, int(snakemake.wildcards.seed), snakemake.output.data)
exit_now()
