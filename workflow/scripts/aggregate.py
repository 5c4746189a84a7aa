"""Snakemake job: the study across seeds: CIs, checklist, ansatz metrics, claims (robqunn.stages.aggregate)."""

from pathlib import Path

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import StudyInputs, aggregate
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
aggregate(
    section_from_dict("claims", snakemake.params.claims),
    section_from_dict("checks", snakemake.params.checks),
    StudyInputs(list(snakemake.input.tables), list(snakemake.input.checks), list(snakemake.input.ansatz)),
    Path(snakemake.output.metrics).parent,
    section_from_dict("tracking", snakemake.params.tracking),
)
exit_now()
