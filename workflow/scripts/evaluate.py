"""Snakemake job: white-box and transfer accuracies of one seed (robqunn.stages.evaluate)."""

from pathlib import Path

from robqunn.runtime import exit_now
from robqunn.stages import evaluate
from robqunn.stages.evaluate import EvaluateSettings
from robqunn.workflow import log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
evaluate.run(
    EvaluateSettings(params.attack, params.noise),
    {Path(path).stem: path for path in snakemake.input.models},
    list(snakemake.input.sets),
    snakemake.input.data,
    snakemake.output.csv,
)
exit_now()
