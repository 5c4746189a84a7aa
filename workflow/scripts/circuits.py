"""Snakemake job: the circuit diagram of every QuNN of one seed (robqunn.stages.circuits)."""

from pathlib import Path

from robqunn.config import model_names
from robqunn.runtime import exit_now
from robqunn.stages import circuits
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule)
params = params_of(snakemake)
circuits.run(
    params.circuit,
    int(snakemake.wildcards.seed),
    model_names(params),
    Path(snakemake.output.diagrams[0]).parent,
)
exit_now()
