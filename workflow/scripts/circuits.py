"""Snakemake job: the circuit diagram of every QuNN of one seed (robqunn.stages.circuits)."""

from pathlib import Path

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import circuits
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
circuits(
    section_from_dict("circuit", snakemake.params.circuit),
    int(snakemake.wildcards.seed),
    snakemake.params.models,
    Path(snakemake.output.diagrams[0]).parent,
)
exit_now()
