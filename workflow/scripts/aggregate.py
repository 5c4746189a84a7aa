"""Snakemake job: the study across seeds: CIs, checklist, ansatz metrics, claims (robqunn.stages.aggregate)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import aggregate
from robqunn.stages.aggregate import StudyInputs, StudySettings
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
params = params_of(snakemake)
aggregate.run(
    StudySettings(params.claims, params.checks, params.train.robust.eps),
    StudyInputs(
        list(snakemake.input.tables),
        list(snakemake.input.checks),
        list(snakemake.input.ansatz),
        list(snakemake.input.radii),
    ),
    Path(snakemake.output.metrics).parent,
    params.tracking,
)
exit_now()
