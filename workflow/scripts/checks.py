"""Snakemake job: the extra attacks of the soundness checks on one model (robqunn.stages.checks)."""

from robqunn.config import attack_settings_from_dict, section_from_dict
from robqunn.stages import checks
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads)
checks(
    section_from_dict("checks", snakemake.params.checks),
    # The checks take PGD's iterations and step, not its eps grid: a new grid does not rerun them.
    attack_settings_from_dict("pgd", snakemake.params.pgd | {"eps": [0.0]}),
    snakemake.params.batch_size,
    int(snakemake.wildcards.seed),
    snakemake.wildcards.model,
    snakemake.input.model,
    snakemake.input.data,
    snakemake.output.records,
    section_from_dict("tracking", snakemake.params.tracking),
)
