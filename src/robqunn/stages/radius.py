"""Stage radius: the certified L-infinity radius of each of a model's attacked digits (robqunn.exact)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

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
    ``settings.radius_resolution`` by bisection on exact verification (``settings.budget``, ``tolerance``).

    The record is kept if current (robqunn.stages.job.current_output). With tracking enabled this is an MLflow
    run, a child of the model's training run, with the median radius (its lower and upper bound), the fraction of
    digits bracketed to the resolution, and the radii's distribution as a figure.
    """
    sections = {"attack": {"n_images": n_images}, "exact": asdict(settings)}
    lineage = Sources.of(job, "radius", sections).lineage()
    kept = current_output(CertifiedRadii.load, Path(out), lineage)
    if kept is not None:
        return kept
    dataset = Dataset.load(job.data, job.seed)
    x, y = dataset.x_test[:n_images], dataset.y_test[:n_images]
    run_params = {"model": job.model, "seed": job.seed, "n_images": len(y)}
    run_params |= {key: getattr(settings, key) for key in ("budget", "tolerance", "radius_resolution")}
    tags = provenance.run_tags("radius", job.seed, job.model)
    parent = provenance.training_run_of(job.model_file)
    name = provenance.run_name("radius", job.model, job.seed)
    with verified_model(job, True) as model, stage_run(job.tracking, name, run_params, tags, parent) as run:
        record = _radii(model, (x, y), settings, job, lineage)
        record.save(out)
        run.metrics(summary(record))
        run.artifact(out)
        run.figure(_figure(record), "certified_radii.png")
    logger.info("%s (seed %d): median certified radius in [%.4f, %.4f]", job.model, job.seed, *_medians(record))
    return record


def _radii(model, digits: tuple, settings: ExactParams, job: Job, lineage: dict) -> CertifiedRadii:
    from robqunn.exact import certified_radii

    x, y = digits
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


def _medians(record: CertifiedRadii) -> tuple[float, float]:
    return float(np.median(record.lower)), float(np.median(record.upper))


def summary(record: CertifiedRadii) -> dict[str, float]:
    """The radii of one model in numbers: the median's bracket and the fraction of digits bracketed to the
    resolution (MLflow metrics, and a row of the study's radii table)."""
    low, high = _medians(record)
    return {"median_radius_lower": low, "median_radius_upper": high, "decided_fraction": float(record.decided.mean())}


def _figure(record: CertifiedRadii):
    """The empirical distribution of the radii: the fraction of digits certified at each eps (the lower bounds),
    which is the exact robust accuracy curve, and the fraction not yet broken (the upper bounds)."""
    from robqunn.plots import radii_figure

    return radii_figure([record], record.seed)
