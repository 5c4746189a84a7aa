"""`robqunn bench exact`: exact verification against PGD, on the same digits and eps grid."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from robqunn.config import Params

EXACT_TARGETS = {"cnn": 10.0, "qunn-full-rot_ent": 10.0, "qunn-full-ent_rot": 60.0}  # exact / PGD cost, at most
UNDECIDED_TARGET = 0.01  # fraction of (digit, eps) left undecided, at most
QUICK_HEAD_EPOCHS = 5  # the benchmark's heads: 5 epochs, batch 32, on the training split
QUICK_HEAD_BATCH = 32
RADIUS_RESOLUTION = 1 / 512  # of the certified radii: nine bisection rounds
RADII_TARGET = 10.0  # certified radii of the digits / one exact verification at one eps, at most (issue 25)


@dataclass(frozen=True)
class ExactTiming:
    """PGD and exact verification of one model over the PGD eps grid, on the same digits.

    exact_accuracy holds (certified robust fraction, 1 - broken fraction) per eps; pgd_broken_certified
    counts digits that PGD breaks and exact verification certifies (it must be 0). radii_seconds times the
    certified radius of every digit (robqunn.exact.certified_radii, to RADIUS_RESOLUTION); median_radius is
    the median of their brackets (lower, upper), radii_decided the fraction bracketed to the resolution.
    """

    model: str
    method: str
    n_images: int
    eps: tuple[float, ...]
    pgd_seconds: float
    exact_seconds: float
    pgd_accuracy: tuple[float, ...]
    exact_accuracy: tuple[tuple[float, float], ...]
    undecided: float
    pgd_broken_certified: int
    target: float
    pgd_iterations: int
    budget: int
    tolerance: float
    radii_seconds: float
    median_radius: tuple[float, float]
    radii_decided: float

    @property
    def one_eps_seconds(self) -> float:
        """Exact verification at one eps: the grid's seconds over its nonzero budgets (eps 0 costs nothing)."""
        return self.exact_seconds / max(1, sum(eps > 0 for eps in self.eps))


def bench_exact(params: Params, seed: int) -> list[ExactTiming]:
    """Exact verification (params.exact's budget and tolerance) against PGD (params.attack.pgd, its whole eps
    grid, 0 included) on the first params.bench.attack_images test digits, for the CNN and qunn-full under
    both layouts.

    Robustness needs real margins, so each model's head is trained quickly (QUICK_HEAD_EPOCHS epochs,
    batch QUICK_HEAD_BATCH, on the training split) rather than left at its random initialisation.
    """
    from robqunn.data import prepare_dataset

    dataset = prepare_dataset(params.data, seed)
    digits = (dataset.x_test[: params.bench.attack_images], dataset.y_test[: params.bench.attack_images])
    return [
        _time_exact(
            _quick_model(name, params, dataset, seed),
            digits,
            params,
            seed,
            (params.exact.budget, params.exact.tolerance),
        )
        for name in EXACT_TARGETS
    ]


def _quick_model(name: str, params: Params, dataset, seed: int):
    import dataclasses

    from robqunn.features import compute_features
    from robqunn.models import build_model
    from robqunn.train import train
    from robqunn.vocabulary import ModelSpec

    model = build_model(ModelSpec.from_name(name), params.circuit, seed)
    features = (compute_features(model, dataset.x_train), compute_features(model, dataset.x_test))
    settings = dataclasses.replace(params.train, epochs=QUICK_HEAD_EPOCHS, batch_size=QUICK_HEAD_BATCH)
    train(model, features, (dataset.y_train, dataset.y_test), settings, seed)
    return model


def _time_exact(model, digits: tuple, params: Params, seed: int, limits: tuple[int, float]) -> ExactTiming:
    """PGD over the grid, then exact verification over the grid, on the same digits."""
    from robqunn.exact import decompose

    broken, pgd_seconds = _timed_pgd(model, digits, params, seed)
    results, exact_seconds = _timed_exact(model, digits, params, limits)
    radii, radii_seconds = _timed_radii(model, digits, params, limits)
    return ExactTiming(
        model=model.name,
        method=decompose(model).kind,
        n_images=len(digits[0]),
        eps=tuple(params.attack.pgd.eps),
        pgd_seconds=pgd_seconds,
        exact_seconds=exact_seconds,
        pgd_accuracy=tuple(1.0 - float(b.mean()) for b in broken),
        exact_accuracy=tuple((r.accuracy_lower, r.accuracy_upper) for r in results),
        undecided=float(np.mean([r.undecided.mean() for r in results])),
        pgd_broken_certified=int(sum(np.sum(r.robust & b) for r, b in zip(results, broken, strict=True))),
        target=EXACT_TARGETS[model.name],
        pgd_iterations=params.attack.pgd.nb_iter,
        budget=limits[0],
        tolerance=limits[1],
        radii_seconds=radii_seconds,
        median_radius=(float(np.median(radii.lower)), float(np.median(radii.upper))),
        radii_decided=float(radii.decided.mean()),
    )


def _timed_pgd(model, digits: tuple, params: Params, seed: int) -> tuple[list[np.ndarray], float]:
    """Which digits PGD breaks at each eps of its grid, and the seconds of crafting (after a warm-up call
    that traces the attack, so tracing is not counted)."""
    from robqunn.attacks import craft
    from robqunn.models import logits_model, predict
    from robqunn.vocabulary import AttackName

    (x, y), logits, pgd = digits, logits_model(model), params.attack.pgd

    def attack(eps):
        return craft(logits, x, y, AttackName.PGD, eps, pgd, params.attack.batch_size, seed)

    attack(max(pgd.eps))
    start = time.perf_counter()
    sets = [attack(eps) for eps in pgd.eps]
    seconds = time.perf_counter() - start
    return [np.argmax(predict(model, s), axis=1) != y for s in sets], seconds


def _timed_exact(model, digits: tuple, params: Params, limits: tuple[int, float]) -> tuple[list, float]:
    """Exact verification at each eps of PGD's grid (its Keras check of x_worst included) and its seconds."""
    from robqunn.exact import verify

    (x, y), start = digits, time.perf_counter()
    results = [verify(model, x, y, eps, *limits, batch_size=params.attack.batch_size) for eps in params.attack.pgd.eps]
    return results, time.perf_counter() - start


def _timed_radii(model, digits: tuple, params: Params, limits: tuple[int, float]) -> tuple:
    """The certified radius of every digit, to RADIUS_RESOLUTION, and its seconds."""
    from robqunn.exact import certified_radii

    (x, y), start = digits, time.perf_counter()
    radii = certified_radii(model, x, y, *limits, RADIUS_RESOLUTION, batch_size=params.attack.batch_size)
    return radii, time.perf_counter() - start


def format_exact_timings(timings: list[ExactTiming]) -> str:
    """Seconds of PGD and of exact verification per model, their ratio against its target, the undecided
    fraction, and the accuracies per eps (PGD's next to the exact interval)."""
    first = timings[0]
    lines = [
        f"PGD-{first.pgd_iterations} vs exact verification on {first.n_images} test digits, eps grid "
        f"{list(first.eps)} (0 included, for both); heads trained {QUICK_HEAD_EPOCHS} epochs (batch "
        f"{QUICK_HEAD_BATCH}) on the training split; budget {first.budget} splits per digit, tolerance "
        f"{first.tolerance:g}",
        "",
        f"{'model':20s} {'method':10s} {'PGD s':>8s} {'exact s':>8s} {'ratio':>7s} {'target':>7s} "
        f"{'undecided':>10s}  verdict",
    ]
    lines += [_exact_row(t) for t in timings]
    lines += ["", f"{'model':20s} {'eps':>5s} {'PGD acc':>8s} {'exact acc [lower, upper]':>26s}"]
    for t in timings:
        for eps, pgd, (lower, upper) in zip(t.eps, t.pgd_accuracy, t.exact_accuracy, strict=True):
            lines.append(f"{t.model:20s} {eps:5.2f} {pgd:8.3f} {f'[{lower:.3f}, {upper:.3f}]':>26s}")
    lines.append(
        f"\ndigits PGD breaks that exact verification certifies (must be 0): "
        f"{sum(t.pgd_broken_certified for t in timings)}"
    )
    lines += [
        "",
        f"certified radius of each digit, to 1/{round(1 / RADIUS_RESOLUTION)}, against one verification at one eps:",
    ]
    lines.append(
        f"{'model':20s} {'one eps s':>9s} {'radii s':>8s} {'ratio':>7s} {'target':>7s} {'decided':>8s} "
        f"{'median radius [lower, upper]':>29s}  verdict"
    )
    lines += [_radii_row(t) for t in timings]
    return "\n".join(lines)


def _radii_row(t: ExactTiming) -> str:
    ratio = t.radii_seconds / t.one_eps_seconds
    lower, upper = t.median_radius
    return (
        f"{t.model:20s} {t.one_eps_seconds:9.1f} {t.radii_seconds:8.1f} {ratio:6.1f}x {RADII_TARGET:6.0f}x "
        f"{t.radii_decided:8.1%} {f'[{lower:.4f}, {upper:.4f}]':>29s}  "
        f"{'within target' if ratio <= RADII_TARGET else 'OVER TARGET'}"
    )


def _exact_row(t: ExactTiming) -> str:
    ratio = t.exact_seconds / t.pgd_seconds
    within = ratio <= t.target and t.undecided <= UNDECIDED_TARGET
    return (
        f"{t.model:20s} {t.method:10s} {t.pgd_seconds:8.1f} {t.exact_seconds:8.1f} {ratio:6.1f}x {t.target:6.0f}x "
        f"{t.undecided:10.2%}  {'within target' if within else 'OVER TARGET'}"
    )
