"""`robqunn bench attack`: the cost of PGD on the CNN against its cost on a QuNN."""

from __future__ import annotations

from robqunn.bench import Timing, best_seconds
from robqunn.config import Params


def bench_attack(params: Params, seed: int) -> list[Timing]:
    """PGD (params.attack.pgd) on the CNN and on ``params.bench.model``, on the same test digits.

    Untrained models cost what trained ones cost, so the benchmark builds them and needs no
    training; eps is the largest of the PGD grid.
    """
    from robqunn.attacks import craft
    from robqunn.data import prepare_dataset
    from robqunn.models import build_model, logits_model
    from robqunn.vocabulary import CNN, AttackName, ModelSpec

    dataset = prepare_dataset(params.data, seed)
    x, y = dataset.x_test[: params.bench.attack_images], dataset.y_test[: params.bench.attack_images]
    eps = max(params.attack.pgd.eps)
    timings = []
    for spec in (ModelSpec(CNN), params.bench.model):
        logits = logits_model(build_model(spec, params.circuit, seed))
        seconds = best_seconds(
            lambda f=logits: craft(f, x, y, AttackName.PGD, eps, params.attack.pgd, params.attack.batch_size, seed), 1
        )
        timings.append(Timing(f"PGD-{params.attack.pgd.nb_iter} on {spec.name}", len(x), seconds / len(x), None))
    return timings


def format_attack_timings(timings: list[Timing]) -> str:
    """Images/s of each PGD run and the QuNN/CNN cost ratio."""
    cnn, qunn = timings
    lines = [f"{'attack':40s} {'images':>7s} {'images/s':>12s}"]
    lines += [f"{t.path:40s} {t.n_images:7d} {1 / t.forward:12,.1f}" for t in timings]
    lines.append(f"\nQuNN attack cost / CNN attack cost: {qunn.forward / cnn.forward:.2f}x")
    return "\n".join(lines)
