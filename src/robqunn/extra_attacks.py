"""The extra attacks of the attack-soundness checks, run on one (seed, model) by the model stage
``checks`` (robqunn.stages.checks).

Beyond the results table's attacks, the checks need (robqunn.checklist: checks 2, 3 and 5-8): PGD at a large
eps; PGD with random restarts against one run; gradient-free SPSA beside PGD on the same digits; the
random-start variants beside their plain attacks (FGSM with its gradient taken at a jittered point,
R+FGSM, MIM from a random point of the ball); PGD with the margin loss beside cross-entropy; the fractions
of exactly-zero input-gradient entries at clean and jittered inputs; and, on a model that samples (finite
shots), PGD with one, R and 4R sampling draws per gradient (EOT).

:func:`extra_attacks` runs them on a :class:`Target` and returns their counts as a
robqunn.artifacts.ChecksRecord; robqunn.checklist (the ``aggregate`` stage, robqunn.stages.aggregate)
decides every check from those records of every seed and the results table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from robqunn.artifacts import ChecksRecord
from robqunn.config import AttackSteps, ChecksParams, ExactParams, PgdSteps, SpsaParams

Digits = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Target:
    """The model under the extra attacks: its logits (what the attacks differentiate), its Keras model
    (what decides a digit correct), the study seed every random start derives from, its name, the
    digits per attack call and, for a model that samples (finite shots), its sampling draws per attack
    gradient (EOT) and per score; (1, 1) for a deterministic model."""

    logits_fn: object
    model: object
    seed: int
    name: str
    batch_size: int
    draws: tuple[int, int] = (1, 1)

    def correct(self, x_adv: np.ndarray, labels: np.ndarray, purpose: str) -> np.ndarray:
        """Per digit correct, or the fraction of the score's sampling draws that are (seeded by ``purpose``)."""
        from robqunn.evaluate import correct_over_draws
        from robqunn.models import predict

        return correct_over_draws(
            self.model, (x_adv, labels), predict, self.draws[1], self.run_seed(f"{purpose}/score")
        )

    def survivors(
        self, digits: Digits, eps: float, purpose: str, attack: Callable, draws: int | None = None
    ) -> np.ndarray:
        """Which ``digits`` survive ``attack(logits_fn, x, y)`` at ``eps``, its random draws seeded by ``purpose``,
        every gradient averaged over ``draws`` sampling draws (default: the target's EOT draws)."""
        from robqunn.attacks import craft_with, eot
        from robqunn.quanv import reseed

        run = eot(attack, self.draws[0] if draws is None else draws)
        batching = (self.batch_size, self.run_seed(purpose))
        reseed(self.model, batching[1])
        where = f"model {self.name!r}, {purpose}"
        x_adv = craft_with(lambda xb, yb: run(self.logits_fn, xb, yb), digits, eps, batching, where)
        return self.correct(x_adv, digits[1], purpose)

    def pgd(self, digits: Digits, eps: float, steps: PgdSteps, purpose: str, draws: int | None = None) -> np.ndarray:
        """Which ``digits`` survive one seeded PGD run at ``eps`` (EOT over ``draws``: the target's by default)."""
        from robqunn.attacks import pgd

        return self.survivors(digits, eps, purpose, lambda f, x, y: pgd(f, x, y, eps, steps), draws)

    def spsa(self, digits: Digits, eps: float, settings: SpsaParams) -> np.ndarray:
        """Which ``digits`` survive seeded SPSA at ``eps`` (gradient-free: one sampling draw per query)."""
        from robqunn.attacks import craft_spsa
        from robqunn.quanv import reseed

        (x, y), seed = digits, self.run_seed("spsa")
        reseed(self.model, seed)
        return self.correct(craft_spsa(self.logits_fn, x, y, eps, settings, seed, self.name), y, "spsa")

    def zero_gradient_fractions(self, digits: Digits, radius: float | None) -> np.ndarray:
        """Per digit, the fraction of the loss's input-gradient entries that are exactly 0, at the digits
        themselves (``radius`` None) or jittered uniformly by ``radius`` (seeded)."""
        import tensorflow as tf

        from robqunn.attacks import input_gradient, jitter
        from robqunn.quanv import digits_from, reseed

        tf.random.set_seed(self.run_seed("zero_gradients"))
        reseed(self.model, self.run_seed("zero_gradients"))
        fractions = []
        for i in range(0, len(digits[1]), self.batch_size):
            x = tf.constant(digits[0][i : i + self.batch_size], tf.float32)
            y = tf.constant(digits[1][i : i + self.batch_size], tf.int64)
            with digits_from(i):
                grad = input_gradient(self.logits_fn, x if radius is None else jitter(x, radius), y).numpy()
            fractions.append(np.mean(grad.reshape(len(grad), -1) == 0, axis=1))
        return np.concatenate(fractions)

    def run_seed(self, purpose: str) -> int:
        from robqunn.seeding import derived_seed

        return derived_seed(self.seed, f"checks/{self.name}/{purpose}")


class SoundnessError(RuntimeError):
    """Two independent computations contradict each other: a bug in one of them, never a finding."""


def extra_attacks(
    target: Target, x: np.ndarray, y: np.ndarray, checks: ChecksParams, steps: AttackSteps, exact: ExactParams
) -> ChecksRecord:
    """Counts of correct digits of one (seed, model) under the extra attacks, on its first
    ``checks.n_images`` test digits (SPSA: ``checks.spsa.n_images``): PGD at ``checks.large_eps``; at
    ``checks.eps`` one PGD run against ``checks.restarts`` runs (a digit survives the restarts only if
    every run leaves it correctly classified), SPSA and PGD on SPSA's digits, the random-start variants
    beside their plain attacks, PGD with the margin loss and ART's AutoAttack (:func:`_autoattack`, checked
    against exact verification with ``exact``'s budget and tolerance); and the zero-gradient fractions. A model
    that samples is attacked with EOT throughout (``target.draws``) and also gets :func:`_eot_record`; AutoAttack,
    which has no EOT, is not run on it."""
    digits = (x[: checks.n_images], y[: checks.n_images])
    spsa_digits = (x[: checks.spsa.n_images], y[: checks.spsa.n_images])
    large = target.pgd(digits, checks.large_eps, steps.pgd, "large_eps")
    restarts = np.stack([target.pgd(digits, checks.eps, steps.pgd, f"restart{r}") for r in range(checks.restarts)])
    worst_of_restarts = np.min(restarts, axis=0)
    spsa = target.spsa(spsa_digits, checks.eps, checks.spsa)
    reference = target.pgd(spsa_digits, checks.eps, steps.pgd, "spsa_reference")
    return ChecksRecord(
        model=target.name,
        seed=target.seed,
        large_eps={"eps": checks.large_eps, **_counts(large)},
        restarts={
            "eps": checks.eps,
            "restarts": checks.restarts,
            "single": _counts(restarts[0]),
            "all": _counts(worst_of_restarts),
        },
        spsa={"eps": checks.eps, "spsa": _counts(spsa), "pgd": _counts(reference)},
        zero_gradients={
            "jitter": checks.jitter,
            "clean": _fractions(target.zero_gradient_fractions(digits, None)),
            "jittered": _fractions(target.zero_gradient_fractions(digits, checks.jitter)),
        },
        single_step=_single_step(target, digits, checks),
        momentum=_momentum(target, digits, checks.eps, steps),
        loss={
            "eps": checks.eps,
            "cross_entropy": _counts(restarts[0]),
            "margin": _counts(_pgd_margin(target, digits, checks.eps, steps.pgd)),
        },
        eot=_eot_record(target, digits, checks.eps, steps.pgd, restarts[0]) if target.draws[0] > 1 else None,
        autoattack=None if target.draws[0] > 1 else _autoattack(target, digits, checks, restarts[0], exact),
    )


def _autoattack(target: Target, digits: Digits, checks: ChecksParams, pgd: np.ndarray, exact: ExactParams) -> dict:
    """AutoAttack (robqunn.attacks.autoattack) at checks.eps beside PGD's one run on the same digits (``pgd``), and
    exact verification of those digits at that eps. A digit AutoAttack breaks (a checked adversarial example)
    that exact verification certifies is a contradiction between two independent computations: it raises
    SoundnessError, which fails the job."""
    import tensorflow as tf

    from robqunn.attacks import autoattack
    from robqunn.exact import verify

    (x, y), eps = digits, checks.eps
    seed = target.run_seed("autoattack")
    np.random.seed(seed)  # ART draws APGD's and Square's random starts from NumPy's and TensorFlow's generators
    tf.random.set_seed(seed)
    x_adv = autoattack(target.logits_fn, x, y, eps, checks.autoattack, target.batch_size)
    survived = target.correct(x_adv, y, "autoattack")
    certified = verify(target.model, x, y, eps, exact.budget, exact.tolerance, exact.batch_size).robust
    contradictions = np.flatnonzero(certified & (survived < 1))
    if len(contradictions):
        raise SoundnessError(
            f"model {target.name!r}, eps {eps}: AutoAttack breaks {len(contradictions)} digits that exact "
            f"verification certifies (the first: digit {contradictions[0]}); one of the two is wrong"
        )
    return {"eps": eps, "autoattack": _counts(survived), "pgd": _counts(pgd), "certified": int(certified.sum())}


def _eot_record(target: Target, digits: Digits, eps: float, steps: PgdSteps, eot: np.ndarray) -> dict:
    """PGD on a model that samples, with a gradient of one draw, of R draws (``eot``: the first restart's run)
    and of 4R draws: is R enough (Athalye et al. 2018), and does ignoring the randomness overstate robustness?"""
    draws = target.draws[0]
    return {
        "eps": eps,
        "draws": draws,
        "one_sample": _counts(target.pgd(digits, eps, steps, "eot_one_sample", draws=1)),
        "eot": _counts(eot),
        "eot_4x": _counts(target.pgd(digits, eps, steps, "eot_4x", draws=4 * draws)),
    }


def _single_step(target: Target, digits: Digits, checks: ChecksParams) -> dict:
    from robqunn.attacks import fgsm, jittered_fgsm, rfgsm

    eps, alpha = checks.eps, checks.rfgsm_alpha_fraction * checks.eps
    return {
        "eps": eps,
        "alpha": alpha,
        "fgsm": _counts(target.survivors(digits, eps, "fgsm", lambda f, x, y: fgsm(f, x, y, eps, None))),
        "jittered_fgsm": _counts(
            target.survivors(digits, eps, "jittered_fgsm", lambda f, x, y: jittered_fgsm(f, x, y, eps, checks.jitter))
        ),
        "rfgsm": _counts(target.survivors(digits, eps, "rfgsm", lambda f, x, y: rfgsm(f, x, y, eps, alpha))),
    }


def _momentum(target: Target, digits: Digits, eps: float, steps: AttackSteps) -> dict:
    from robqunn.attacks import mim, mim_random_start

    return {
        "eps": eps,
        "mim": _counts(target.survivors(digits, eps, "mim", lambda f, x, y: mim(f, x, y, eps, steps.mim))),
        "mim_random_start": _counts(
            target.survivors(digits, eps, "mim_random_start", lambda f, x, y: mim_random_start(f, x, y, eps, steps.mim))
        ),
    }


def _pgd_margin(target: Target, digits: Digits, eps: float, steps: PgdSteps) -> np.ndarray:
    from robqunn.attacks import pgd_margin

    return target.survivors(digits, eps, "pgd_margin", lambda f, x, y: pgd_margin(f, x, y, eps, steps))


def _counts(correct: np.ndarray) -> dict:
    from robqunn.evaluate import count

    return {"n_correct": count(correct), "n_evaluated": int(len(correct))}


def _fractions(values: np.ndarray) -> dict:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "sd": sd, "n_digits": int(len(values))}
