"""`robqunn bench robust`: robust training of the head (train.methods pgd, exact) against standard training."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from robqunn.config import Params
from robqunn.vocabulary import ModelSpec, TrainMethod

ROBUST_MODELS = ("cnn", "qunn-none-rot_ent", "qunn-full-ent_rot")  # relu, separable and polynomial layers
EXACT_TRAINING_TARGET = 5.0  # exact training / standard training seconds, at most (issue 25)
VERIFIED_EPS = (0.05, 0.1, 0.2)  # where the trained heads are verified exactly


@dataclass(frozen=True)
class RobustTiming:
    """One head trained by one method: its training seconds, its clean accuracy and its exact robust accuracy
    (certified fraction; the upper bound is 1 - broken fraction) at each of VERIFIED_EPS on the attacks' digits."""

    model: str
    method: str
    seconds: float
    clean_accuracy: float
    exact_accuracy: tuple[tuple[float, float], ...]


def bench_robust(params: Params, seed: int) -> list[RobustTiming]:
    """Each of ROBUST_MODELS' heads trained by each method (params.train, params.train.robust) on the prepared
    training digits of ``seed``, then verified exactly (params.exact) on the first attack.n_images test digits.
    The seconds are the head's training alone (the feature maps are computed once per layer, before)."""
    from robqunn.data import prepare_dataset
    from robqunn.features import compute_features
    from robqunn.models import build_model

    dataset = prepare_dataset(params.data, seed)
    n = params.attack.n_images
    timings = []
    for name in ROBUST_MODELS:
        layer = build_model(ModelSpec.from_name(name), params.circuit, seed)
        maps = (compute_features(layer, dataset.x_train), compute_features(layer, dataset.x_test))
        for method in TrainMethod:
            spec = dataclasses.replace(ModelSpec.from_name(name), method=method)
            timings.append(_timed(build_model(spec, params.circuit, seed), maps, dataset, params, seed, n))
    return timings


def _timed(model, maps, dataset, params: Params, seed: int, n: int) -> RobustTiming:
    from robqunn.exact import verify
    from robqunn.train import accuracy, train

    method = ModelSpec.from_name(model.name).method
    start = time.perf_counter()
    train(model, maps, (dataset.y_train, dataset.y_test), params.train, seed, method, dataset.x_train)
    seconds = time.perf_counter() - start
    x, y = dataset.x_test[:n], dataset.y_test[:n]
    exact = params.exact
    results = [verify(model, x, y, eps, exact.budget, exact.tolerance, exact.batch_size) for eps in VERIFIED_EPS]
    bounds = tuple((r.accuracy_lower, r.accuracy_upper) for r in results)
    return RobustTiming(model.name, method.value, seconds, accuracy(model, x, y), bounds)


def format_robust_timings(timings: list[RobustTiming]) -> str:
    """The table `robqunn bench robust` prints: per head, its training cost against the standard head's of the
    same layer (exact must stay within EXACT_TRAINING_TARGET) and its accuracies (one seed)."""
    standard = {t.model: t.seconds for t in timings if t.method == TrainMethod.STANDARD.value}
    eps_columns = "".join(f"  exact@{eps:<5g}" for eps in VERIFIED_EPS)
    lines = [f"{'model':34} {'train s':>8} {'ratio':>6} {'target':>7} {'verdict':>8}  clean{eps_columns}"]
    for t in timings:
        ratio = t.seconds / standard[_standard_name(t)]
        exact_row = t.method == TrainMethod.EXACT.value
        target = f"{EXACT_TRAINING_TARGET:.0f}x" if exact_row else ""
        verdict = ("met" if ratio <= EXACT_TRAINING_TARGET else "MISSED") if exact_row else ""
        accuracies = "".join(f"  {_bounds(low, high):<12}" for low, high in t.exact_accuracy)
        lines.append(
            f"{t.model:34} {t.seconds:8.1f} {ratio:5.1f}x {target:>7} {verdict:>8}  {t.clean_accuracy:.3f}{accuracies}"
        )
    lines.append("exact@eps: exact robust accuracy (certified fraction; a range where digits stay undecided); one seed")
    return "\n".join(lines)


def _standard_name(timing: RobustTiming) -> str:
    return dataclasses.replace(ModelSpec.from_name(timing.model), method=TrainMethod.STANDARD).name


def _bounds(low: float, high: float) -> str:
    return f"{low:.3f}" if high - low < 5e-4 else f"{low:.3f}-{high:.3f}"
