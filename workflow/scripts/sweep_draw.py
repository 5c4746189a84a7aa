"""Snakemake job: one draw of the sweep's rotation angles, each circuit trained and verified (stages.sweep_draw)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import sweep_draw
from robqunn.stages.job import Job
from robqunn.sweep import Recipe
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
sweep_draw.run(
    params.sweep,
    Recipe(params.circuit, params.train, params.exact),
    Job(int(snakemake.wildcards.seed), Path(snakemake.input.data), params.tracking),
    int(snakemake.wildcards.draw),
    snakemake.output.table,
)
exit_now()
