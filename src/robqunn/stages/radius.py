"""Stage radius: the certified L-infinity radius of each of a model's attacked digits (robqunn.exact)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from robqunn import provenance
from robqunn.artifacts import CertifiedRadii
from robqunn.config import ExactParams
from robqunn.data import Dataset
from robqunn.stages.exact import verified_model
from robqunn.stages.job import Job, Sources, current_output
from robqunn.tracking import stage_run

logger = logging.getLogger(__name__)


def run(settings: ExactParams, n_images: int, job: Job, out: str | Path) -> CertifiedRadii:
    """Each of the first ``n_images`` test digits' certified radius (the attacks' digits), bracketed to
    ``settings.radius_resolution`` by bisection on exact verification (``settings.budget``, ``tolerance``), or the
    record kept if current (robqunn.stages.job.current_output).

    With tracking enabled this is an MLflow run, a child of the model's training run, whether the record was
    computed or kept: the median radius (its lower and upper bound), the fraction of digits bracketed to the
    resolution, and the radii's distribution as a figure.
    """
    sections = {"attack": {"n_images": n_images}, "exact": asdict(settings)}
    lineage = Sources.of(job, "radius", sections).lineage()
    run_params = {"model": job.model, "seed": job.seed, "n_images": n_images}
    run_params |= {key: getattr(settings, key) for key in ("budget", "tolerance", "radius_resolution")}
    tags = provenance.run_tags("radius", job.seed, job.model)
    parent = provenance.training_run_of(job.model_file)
    with stage_run(job.tracking, provenance.run_name("radius", job.model, job.seed), run_params, tags, parent) as run:
        record = current_output(CertifiedRadii.load, Path(out), lineage)
        if record is None:
            record = _radii(settings, n_images, job, lineage)
            record.save(out)
        run.metrics(record.summary())
        run.artifact(out)
        if run.active:  # matplotlib only when the figure goes somewhere
            from robqunn.plots import radii_figure

            run.figure(radii_figure([record], record.seed), "certified_radii.png")
    summary = record.summary()
    low, high = summary["median_radius_lower"], summary["median_radius_upper"]
    logger.info("%s (seed %d): median certified radius in [%.4f, %.4f]", job.model, job.seed, low, high)
    return record


def _radii(settings: ExactParams, n_images: int, job: Job, lineage: dict) -> CertifiedRadii:
    from robqunn.exact import certified_radii

    dataset = Dataset.load(job.data, job.seed)
    x, y = dataset.first_test_digits(n_images, "attack.n_images")
    with verified_model(job, True) as model:
        radii = certified_radii(
            model, x, y, settings.budget, settings.tolerance, settings.radius_resolution, settings.batch_size
        )
    return CertifiedRadii(
        job.model,
        job.seed,
        settings.radius_resolution,
        [int(label) for label in y],
        [float(v) for v in radii.lower],
        [float(v) for v in radii.upper],
        lineage,
    )
