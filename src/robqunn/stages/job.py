"""What every stage shares: the job, what its outputs are made from (kept when current), its model."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from robqunn import registry
from robqunn.config import NoiseParams, TrackingParams
from robqunn.errors import DataError
from robqunn.io import sha256_file, sha256_json, sha256_tree
from robqunn.noise import sampling_draws
from robqunn.vocabulary import AttackName, ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """What a stage of one seed needs: the seed, the prepared digits, where to track and, for the
    stages of one model, the model's name and its ``.keras`` file (written by train, read by attack
    and checks), and the ``noise`` section's sampling draws (needed for a finite-shot model)."""

    seed: int
    data: Path
    tracking: TrackingParams | None = None
    model: str | None = None
    model_file: Path | None = None
    noise: NoiseParams | None = None

    def __post_init__(self) -> None:
        if self.model is not None:
            ModelSpec.from_name(self.model)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_name(self.model)

    @property
    def eot_draws(self) -> int:
        """Sampling draws per attack gradient (robqunn.attacks.eot): noise.eot_draws for a finite-shot model, else 1."""
        return sampling_draws(self.spec, self.noise, "eot_draws")

    @property
    def eval_draws(self) -> int:
        """Sampling draws a finite-shot model's accuracy averages over (noise.eval_draws), else 1."""
        return sampling_draws(self.spec, self.noise, "eval_draws")


T = TypeVar("T")


@functools.cache
def code_sha256() -> str:
    """sha256 of robqunn's source. A kept output must be what this code would write: DVC reruns a stage when the
    package changes (its outs persist, dvc.yaml), and that rerun must not keep what older code wrote."""
    return sha256_tree(Path(__file__).parents[1])


@dataclass(frozen=True)
class Sources:
    """What the outputs of one stage call are made from, each output adding its eps: the sha256 of the model
    file and of the prepared digits (``inputs``), and ``params``: the values of the keys the stage reads for
    them (robqunn.registry, without an eps grid) with the stage, seed, model and attack, from which their
    random draws derive (robqunn.stages.attack.attack_seed)."""

    inputs: dict[str, str]
    params: dict[str, Any]

    @classmethod
    def of(cls, job: Job, stage: str, sections: dict, attack: AttackName | str | None = None) -> Sources:
        """The sources of ``stage`` (its name in robqunn.registry.STAGES) for ``job``'s model (and ``attack``);
        ``sections``: the params the stage was given, nested as in params.yaml, where its keys are looked up."""
        keys = registry.STAGES[stage].keys_read([job.model], attack, eps=True)
        names = {"stage": stage, "seed": job.seed, "model": job.model}
        names |= {} if attack is None else {"attack": AttackName(attack).value}
        inputs = {"model": sha256_file(job.model_file), "data": sha256_file(job.data)}
        return cls(inputs, names | registry.values(sections, keys))

    def lineage(self, eps: float | None = None) -> dict:
        """The lineage an output records (robqunn.artifacts): of the output at ``eps``, or of the stage's one."""
        params = self.params if eps is None else self.params | {"eps": eps}
        return {"inputs": self.inputs, "params_sha256": sha256_json(params), "code_sha256": code_sha256()}


def current_output(load: Callable[[Path], T], path: Path, lineage: dict) -> T | None:
    """The artifact at ``path`` if it is current: it loads and records ``lineage``, so it is what computing it
    now would write, byte for byte. None if it must be computed: missing, unreadable, or made from something
    else (another model file or digits, other params, other code)."""
    if not path.is_file():
        return None
    try:
        artifact = load(path)
    except DataError as exc:
        logger.warning("unreadable, computed again: %s (%s)", path, exc)
        return None
    if artifact.lineage != lineage:
        logger.info("stale, computed again: %s", path)
        return None
    logger.info("current, kept: %s", path)
    return artifact


def sampling_params(job: Job) -> dict[str, int]:
    """The ``noise`` keys of ``job``'s model that the attacks and checks read (robqunn.registry.sampling_keys)."""
    return {"eot_draws": job.eot_draws, "eval_draws": job.eval_draws}


def model_loader(job: Job) -> Callable[[], Any]:
    """``job``'s model, loaded at the first call: a stage whose outputs are all current never loads it."""
    from robqunn.models import load_model

    return functools.cache(lambda: load_model(job.model_file, job.model, job.seed, job.data))


def predicted_classes(model, x: np.ndarray, seed: int | None = None) -> np.ndarray:
    """The classes ``model`` predicts for ``x``, int64 (what a set records as ``predicted``); a finite-shot
    model's one sampling draw seeded by ``seed``."""
    from robqunn.models import predict
    from robqunn.quanv import reseed

    if seed is not None:
        reseed(model, seed)
    return np.argmax(predict(model, x), axis=1).astype(np.int64)


def correct_per_digit(model, digits: tuple[np.ndarray, np.ndarray], draws: int, seed: int) -> np.ndarray:
    """Per digit: correct or not, or a finite-shot model's fraction of ``draws`` seeded draws that are."""
    from robqunn.evaluate import correct_over_draws
    from robqunn.models import predict

    return correct_over_draws(model, digits, predict, draws, seed)


def qunn_specs(model_names: list[str]) -> list[ModelSpec]:
    return [spec for spec in map(ModelSpec.from_name, model_names) if spec.ansatz is not None]
