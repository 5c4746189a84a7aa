"""Stage checks: the extra attacks of the soundness checks on one model."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict
from pathlib import Path

from robqunn import provenance
from robqunn.artifacts import (
    ChecksRecord,
)
from robqunn.config import (
    AttackSteps,
    ChecksParams,
    ExactParams,
)
from robqunn.data import Dataset
from robqunn.stages.job import Job, Sources, current_output, sampling_params
from robqunn.tracking import stage_run

logger = logging.getLogger(__name__)


def run(settings: ChecksParams, steps: AttackSteps, exact: ExactParams, job: Job, out: str | Path):
    """The extra attacks of the soundness checks on one model (robqunn.extra_attacks.extra_attacks), saved as a
    :class:`robqunn.artifacts.ChecksRecord`, or the record kept if current (robqunn.stages.job.current_output);
    with tracking, an MLflow run, a child of the model's training run.

    PGD and MIM run with the steps of ``steps`` at the checks' own budgets (``settings.eps``,
    ``settings.large_eps``), ``steps.batch_size`` digits per call; AutoAttack's digits are verified exactly with
    ``exact``'s budget and tolerance.
    """
    sections = {"checks": asdict(settings), "attack": asdict(steps), "noise": sampling_params(job)}
    sections["exact"] = asdict(exact)
    lineage = Sources.of(job, "checks", sections).lineage()
    run_params = {"model": job.model, "seed": job.seed, "checks": asdict(settings), "attack": asdict(steps)}
    tags = provenance.run_tags("checks", job.seed, job.model)
    parent = provenance.training_run_of(job.model_file)
    with stage_run(job.tracking, provenance.run_name("checks", job.model, job.seed), run_params, tags, parent) as run:
        record = current_output(ChecksRecord.load, Path(out), lineage)
        if record is None:
            record = _extra_attacks((settings, steps, exact), job, lineage, out)
        run.metrics(_check_accuracies(record))
        run.artifact(out)
    return record


def _extra_attacks(sections: tuple, job: Job, lineage: dict, out: str | Path):
    """Run the checks' extra attacks on ``job``'s model (``sections``: checks, attack steps, exact) and save their
    record with its lineage."""
    from robqunn.extra_attacks import Target, extra_attacks
    from robqunn.models import load_model, logits_model

    dataset = Dataset.load(job.data, job.seed)
    model = load_model(job.model_file, job.model, job.seed, job.data)
    settings, steps, exact = sections
    draws = (job.eot_draws, job.eval_draws)
    target = Target(logits_model(model), model, job.seed, job.model, steps.batch_size, draws)
    for n, key in ((settings.n_images, "checks.n_images"), (settings.spsa.n_images, "checks.spsa.n_images")):
        dataset.require_test_digits(n, key)
    record = extra_attacks(target, dataset.x_test, dataset.y_test, settings, steps, exact)
    record = dataclasses.replace(record, lineage=lineage)
    record.save(out)
    logger.info("%s (seed %d): extra attacks of the soundness checks -> %s", job.model, job.seed, out)
    return record


def _check_accuracies(record) -> dict:
    counts = {
        "large_eps": record.large_eps,
        "pgd_one_run": record.restarts["single"],
        "pgd_restarts": record.restarts["all"],
        "spsa": record.spsa["spsa"],
        "pgd_on_spsa_digits": record.spsa["pgd"],
        "fgsm": record.single_step["fgsm"],
        "jittered_fgsm": record.single_step["jittered_fgsm"],
        "rfgsm": record.single_step["rfgsm"],
        "mim": record.momentum["mim"],
        "mim_random_start": record.momentum["mim_random_start"],
        "pgd_margin_loss": record.loss["margin"],
    }
    if record.eot is not None:
        counts |= {f"pgd_{key}": record.eot[key] for key in ("one_sample", "eot", "eot_4x")}
    if record.autoattack is not None:
        counts["autoattack"] = record.autoattack["autoattack"]
    zeros = {f"zero_gradient_fraction_{where}": record.zero_gradients[where]["mean"] for where in ("clean", "jittered")}
    return {f"accuracy_{name}": c["n_correct"] / c["n_evaluated"] for name, c in counts.items()} | zeros
