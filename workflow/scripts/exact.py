"""Snakemake job: exact robust accuracy of one model over the eps grid, and its worst cases (robqunn.stages.exact)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import exact
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
exact.run(
    params.exact,
    params.attack.n_images,
    job_of(snakemake, params, model_file=snakemake.input.model),
    snakemake.output.table,
    Path(snakemake.output.sets[0]).parent,
)
exit_now()
