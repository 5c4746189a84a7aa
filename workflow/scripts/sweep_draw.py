"""Snakemake job: one draw of the sweep's rotation angles, each circuit trained and verified (stages.sweep_draw)."""

from pathlib import Path

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import Job, sweep_draw
from robqunn.sweep import Recipe
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
recipe = Recipe(
    section_from_dict("circuit", snakemake.params.circuit),
    section_from_dict("train", snakemake.params.train),
    section_from_dict("exact", snakemake.params.exact),
)
tracking = section_from_dict("tracking", snakemake.params.tracking)
sweep_draw(
    section_from_dict("sweep", snakemake.params.sweep),
    recipe,
    Job(snakemake.params.seed, Path(snakemake.input.data), tracking, None, None),
    int(snakemake.wildcards.draw),
    snakemake.output.table,
)
exit_now()
