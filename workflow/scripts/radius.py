"""Snakemake job: the certified radius of each of one model's attacked digits (robqunn.stages.radius)."""

from robqunn.runtime import exit_now
from robqunn.stages import radius
from robqunn.workflow import job_of, log_to, params_of

log_to(snakemake.log[0], snakemake.threads, rule=snakemake.rule, tensorflow=True)
params = params_of(snakemake)
radius.run(
    params.exact,
    params.attack.n_images,
    job_of(snakemake, params, model_file=snakemake.input.model),
    snakemake.output.radii,
)
exit_now()
