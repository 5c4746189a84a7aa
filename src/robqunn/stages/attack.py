"""Stage attack: the white-box adversarial sets of one (model, attack), one file per eps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robqunn import paths, provenance
from robqunn.artifacts import (
    AdversarialSet,
)
from robqunn.config import AttackParams, FgsmParams, MimParams, PgdParams
from robqunn.data import Dataset
from robqunn.io import sha256_file
from robqunn.paths import eps_label
from robqunn.stages.job import (
    Job,
    Sources,
    correct_per_digit,
    current_output,
    model_loader,
    predicted_classes,
    sampling_params,
)
from robqunn.tracking import stage_run
from robqunn.vocabulary import AttackName

logger = logging.getLogger(__name__)


ATTACK_TABLE_ARTIFACT = "accuracy_vs_eps.json"  # an attack run's accuracy-eps curve, as a table


@dataclass(frozen=True)
class AttackJob:
    """One attack as the attack stage runs it: its hyper-parameters and how many digits, in what batches."""

    name: AttackName
    settings: FgsmParams | PgdParams | MimParams
    n_images: int
    batch_size: int

    @classmethod
    def of(cls, attack_params: AttackParams, name: AttackName | str) -> AttackJob:
        name = AttackName(name)
        return cls(name, attack_params.of(name), attack_params.n_images, attack_params.batch_size)


def run(
    attack_job: AttackJob, job: Job, out_dir: str | Path, eps_values: tuple[float, ...] | None = None
) -> list[Path]:
    """Craft the adversarial sets of one (model, attack) on the first test digits, one file per eps.

    Each set is checked against the threat model before it is written, as ``eps<eps>.npz`` in
    ``out_dir``, recording the source model, the attack, eps, the seed, the attack's hyper-parameters
    and its lineage. A set that is current (robqunn.stages.job.current_output) is kept, not crafted again,
    so one more eps in the grid (the attack's settings' grid unless ``eps_values`` is given) costs that eps
    alone; the model is loaded once, when the first eps needs it. With tracking enabled this is an
    MLflow run, a child of the training run that wrote ``job.model_file``: the white-box accuracy per
    eps, kept sets included, as the metric ``accuracy_eps_<eps>`` (a column of the UI's runs table)
    and, with each set's path and sha256, as the table artifact ``accuracy_vs_eps.json`` (the sets
    themselves are DVC's, 3 MB each; their path and hash are also the tag ``adversarial_set.eps_<eps>``).
    The curve's figure is the training run's, drawn once the study is evaluated
    (robqunn.provenance.track_study): a figure here cost a second.
    """
    dataset = Dataset.load(job.data, job.seed)
    x, y = dataset.first_test_digits(attack_job.n_images, "attack.n_images")
    grid = attack_job.settings.eps if eps_values is None else eps_values
    name = attack_job.name.value
    run_params = {"model": job.model, "seed": job.seed, "attack": name, "n_images": len(y)}
    run_params |= {"batch_size": attack_job.batch_size, "data": provenance.data_provenance(job.data)}
    run_params[name] = asdict(attack_job.settings) | {"eps": list(grid)}
    tags = provenance.run_tags("attack", job.seed, job.model, attack=name)
    parent = provenance.training_run_of(job.model_file)
    run_name = provenance.run_name(f"attack {name}", job.model, job.seed)
    if eps_values is not None:  # a part of the grid (workflow.jobs per_eps, `robqunn attack --eps`): its own run
        run_name += " · eps " + ", ".join(eps_label(eps) for eps in grid)
    sections = {
        "attack": {"n_images": attack_job.n_images, "batch_size": attack_job.batch_size},
        "noise": sampling_params(job),
    }
    sections["attack"][name] = asdict(attack_job.settings)
    crafting = _Crafting(attack_job, job, model_loader(job), (x, y), Sources.of(job, "attack", sections, name))
    with stage_run(job.tracking, run_name, run_params, tags, parent) as run:
        done = [_attack_one_eps(crafting, eps, Path(out_dir), run) for eps in grid]
        if run.active:
            run.table([row for _, row in done], ATTACK_TABLE_ARTIFACT)
            run.metrics({"seconds": sum(row["seconds"] for _, row in done)})
    return [path for path, _ in done]


def attack_seed(seed: int, model_name: str, attack_name: AttackName, eps: float) -> int:
    """The seed of one attack run's random start, derived from the study seed."""
    from robqunn.seeding import derived_seed

    return derived_seed(seed, f"attack/{model_name}/{attack_name.value}/{eps!r}")


@dataclass(frozen=True)
class _Crafting:
    """What crafting each set of one (model, attack) needs: the model (loaded at its first call), the digits
    and what the sets are made from."""

    attack_job: AttackJob
    job: Job
    model: Callable[[], Any]
    digits: tuple[np.ndarray, np.ndarray]
    sources: Sources


def _attack_one_eps(crafting: _Crafting, eps: float, out_dir: Path, run) -> tuple:
    """The set of one eps: kept if current, else crafted, checked and saved; log its white-box accuracy.
    Returns the set's path and, tracked, its row of the run's table."""
    from robqunn.seeding import derived_seed

    job, started = crafting.job, time.perf_counter()
    seed = attack_seed(job.seed, job.model, crafting.attack_job.name, eps)
    path = out_dir / paths.ADVERSARIAL_NAME.format(eps=eps_label(eps))
    lineage = crafting.sources.lineage(eps)
    adversarial = current_output(AdversarialSet.load, path, lineage) or _craft(crafting, eps, seed, lineage, path)
    row = None
    if run.active:
        x_adv, y = adversarial.x_adv, adversarial.y
        correct = None
        if job.spec.shots:  # a model that samples: the mean over its draws
            correct = correct_per_digit(crafting.model(), (x_adv, y), job.eval_draws, derived_seed(seed, "score"))
        score = float(np.mean(adversarial.predicted == y if correct is None else correct))
        seconds, digest = time.perf_counter() - started, sha256_file(path)
        run.metrics({f"accuracy_eps_{eps_label(eps)}": score})
        run.tags({f"adversarial_set.eps_{eps_label(eps)}": f"{path} sha256:{digest}"})
        row = {"eps": eps, "accuracy": score, "n_digits": len(y), "set": str(path), "set_sha256": digest}
        row["seconds"] = round(seconds, 3)
    return path, row


def _craft(crafting: _Crafting, eps: float, seed: int, lineage: dict, path: Path) -> AdversarialSet:
    """Craft the set of one eps, check it against the threat model and save it (atomically)."""
    from robqunn.attacks import craft
    from robqunn.models import logits_model
    from robqunn.quanv import reseed
    from robqunn.seeding import derived_seed

    attack_job, job, model = crafting.attack_job, crafting.job, crafting.model()
    (x, y), name = crafting.digits, attack_job.name
    reseed(model, seed)
    x_adv = craft(
        logits_model(model), x, y, name, eps, attack_job.settings, attack_job.batch_size, seed, job.model, job.eot_draws
    )
    # without the eps grid: a set depends on its own eps alone, so one more eps in the grid leaves it current
    settings = {key: value for key, value in asdict(attack_job.settings).items() if key != "eps"}
    settings |= {"eot_draws": job.eot_draws} if job.spec.shots else {}
    predicted = predicted_classes(model, x_adv, derived_seed(seed, "predicted"))
    model_sha256 = crafting.sources.inputs["model"]
    adversarial = AdversarialSet(
        x_adv, y, predicted, job.model, name.value, eps, job.seed, settings, model_sha256, lineage=lineage
    )
    adversarial.save(path)
    logger.info("%s %s eps %g: %d adversarial digits -> %s", job.model, name.value, eps, len(y), path)
    return adversarial
