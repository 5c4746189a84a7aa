"""Snakemake job: the adversarial sets of one (model, attack), one file per eps (robqunn.stages.attack)."""

from pathlib import Path

from robqunn.config import attack_settings_from_dict, section_from_dict
from robqunn.stages import attack
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads)
attack(
    attack_settings_from_dict(snakemake.params.attack, snakemake.params.settings),
    snakemake.params.n_images,
    snakemake.params.batch_size,
    snakemake.params.attack,
    int(snakemake.wildcards.seed),
    snakemake.wildcards.model,
    snakemake.input.model,
    snakemake.input.data,
    Path(snakemake.output.sets[0]).parent,
    tracking=section_from_dict("tracking", snakemake.params.tracking),
)
