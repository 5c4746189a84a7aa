"""Snakemake job: white-box and transfer accuracies of one seed (robqunn.stages.evaluate)."""

from pathlib import Path

from robqunn.config import section_from_dict
from robqunn.runtime import exit_now
from robqunn.stages import EvaluateSettings, evaluate
from robqunn.workflow import log_to

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
evaluate(
    EvaluateSettings(
        section_from_dict("attack", snakemake.params.attack), section_from_dict("noise", snakemake.params.noise)
    ),
    {Path(path).stem: path for path in snakemake.input.models},
    list(snakemake.input.sets),
    snakemake.input.data,
    snakemake.output.csv,
)
exit_now()
