"""Is the white-box attack doing its job? The checks of Carlini et al. (2019) and Athalye et al. (2018).

A model that looks robust may only hide its gradient (gradient masking). Five checks, per model:

1. iterative attacks (PGD, MIM) are at least as strong as FGSM at the same eps;
2. PGD at a large eps (0.5 in L-inf: every pixel can be moved to mid-grey) brings accuracy to chance;
3. a gradient-free attack (SPSA) is not clearly stronger than PGD;
4. transfer examples from another model are not clearly stronger than white-box ones on this model;
5. PGD with random restarts is not clearly stronger than one run.

"Clearly" means the 95% confidence interval of the difference excludes zero (robqunn.stats: a
t-interval over seeds, or with one seed the normal interval over digits), so noise alone does not
raise a FLAG. A FLAG is evidence, not an error: it is reported and never stops the pipeline.

:func:`extra_attacks` runs the attacks that checks 2, 3 and 5 need on one (seed, model) and returns
their counts (a robqunn.artifacts.ChecksRecord); :func:`checklist` decides every check from those
counts and the results table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from robqunn import stats
from robqunn.artifacts import ChecksRecord
from robqunn.config import AttackName, ChecksParams, PgdSteps, SpsaParams

PASS, FLAG, NOT_RUN = "PASS", "FLAG", "NOT RUN"
COUNT_KEYS = ["seed", "n_correct", "n_evaluated"]


@dataclasses.dataclass(frozen=True)
class Target:
    """The model under the extra attacks: its logits (what the attacks differentiate), its Keras model
    (what decides a digit correct), the study seed every random start derives from, its name and the
    digits per attack call."""

    logits_fn: object
    model: object
    seed: int
    name: str
    batch_size: int

    def correct(self, x_adv: np.ndarray, labels: np.ndarray) -> np.ndarray:
        from robqunn.models import predict

        return np.argmax(predict(self.model, x_adv), axis=1) == labels

    def pgd(self, digits: tuple[np.ndarray, np.ndarray], eps: float, steps: PgdSteps, purpose: str) -> np.ndarray:
        """Which ``digits`` survive one seeded PGD run at ``eps``."""
        from robqunn.attacks import craft

        (x, y), seed = digits, self.run_seed(purpose)
        return self.correct(
            craft(self.logits_fn, x, y, AttackName.PGD, eps, steps, self.batch_size, seed, self.name), y
        )

    def spsa(self, digits: tuple[np.ndarray, np.ndarray], eps: float, settings: SpsaParams) -> np.ndarray:
        """Which ``digits`` survive seeded SPSA at ``eps``."""
        from robqunn.attacks import craft_spsa

        (x, y), seed = digits, self.run_seed("spsa")
        return self.correct(craft_spsa(self.logits_fn, x, y, eps, settings, seed, self.name), y)

    def run_seed(self, purpose: str) -> int:
        from robqunn.seeding import derived_seed

        return derived_seed(self.seed, f"checks/{self.name}/{purpose}")


def extra_attacks(target: Target, x: np.ndarray, y: np.ndarray, checks: ChecksParams, pgd: PgdSteps) -> ChecksRecord:
    """Counts of correct digits of one (seed, model) under the extra attacks: PGD at
    ``checks.large_eps``; at ``checks.eps`` one PGD run against ``checks.restarts`` runs (a digit
    survives the restarts only if every run leaves it correctly classified); SPSA, and PGD on the
    same digits as its reference."""
    digits, spsa_digits = (
        (x[: checks.n_images], y[: checks.n_images]),
        (x[: checks.spsa.n_images], y[: checks.spsa.n_images]),
    )
    large = target.pgd(digits, checks.large_eps, pgd, "large_eps")
    restarts = np.stack([target.pgd(digits, checks.eps, pgd, f"restart{r}") for r in range(checks.restarts)])
    spsa = target.spsa(spsa_digits, checks.eps, checks.spsa)
    reference = target.pgd(spsa_digits, checks.eps, pgd, "spsa_reference")
    return ChecksRecord(
        model=target.name,
        seed=target.seed,
        large_eps={"eps": checks.large_eps, **_counts(large)},
        restarts={
            "eps": checks.eps,
            "restarts": checks.restarts,
            "single": _counts(restarts[0]),
            "all": _counts(restarts.all(axis=0)),
        },
        spsa={"eps": checks.eps, "spsa": _counts(spsa), "pgd": _counts(reference)},
    )


def _counts(correct: np.ndarray) -> dict:
    return {"n_correct": int(np.sum(correct)), "n_evaluated": int(len(correct))}


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of a model's checklist."""

    model: str
    check: str
    verdict: str
    evidence: str
    value: float
    ci_low: float
    ci_high: float


def checklist(table: pd.DataFrame, extra: list[ChecksRecord], max_accuracy_at_large_eps: float) -> pd.DataFrame:
    """The five checks for every model of the results table (all seeds), from it and ``extra`` (the
    :func:`extra_attacks` records of every seed and model)."""
    records = pd.DataFrame([record.as_dict() for record in extra])
    rows = []
    for model in sorted(table["target"].unique()):
        mine = table[table["target"] == model]
        own = records[records["model"] == model] if len(records) else records
        rows += [
            _iterative_vs_fgsm(model, mine),
            _large_eps(model, own, max_accuracy_at_large_eps),
            _spsa_vs_pgd(model, own),
            _transfer_vs_whitebox(model, mine),
            _restarts(model, own),
        ]
    return pd.DataFrame([dataclasses.asdict(r) for r in rows])


def _not_run(model: str, check: str) -> Check:
    return Check(model, check, NOT_RUN, "its extra attacks were not run", float("nan"), float("nan"), float("nan"))


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[COUNT_KEYS]


def _worst(model: str, check: str, comparisons: Iterable[tuple[str, stats.Interval]], what: str) -> Check:
    """FLAG when any difference (expected <= 0) is clearly positive; report the largest one."""
    comparisons = list(comparisons)
    if not comparisons:
        return Check(model, check, PASS, f"nothing to compare ({what})", float("nan"), float("nan"), float("nan"))
    label, worst = max(comparisons, key=lambda item: item[1].low)
    verdict = FLAG if worst.low > 0 else PASS
    evidence = f"{label}: {what} {worst.mean:+.3f} [{worst.low:+.3f}, {worst.high:+.3f}] ({worst.method})"
    return Check(model, check, verdict, evidence, worst.mean, worst.low, worst.high)


def _iterative_vs_fgsm(model: str, rows: pd.DataFrame) -> Check:
    white = rows[rows["kind"] == "white-box"]
    comparisons = []
    for attack in (AttackName.PGD.value, AttackName.MIM.value):
        for eps in sorted(set(white[white["attack"] == attack]["eps"]) & set(white[white["attack"] == "fgsm"]["eps"])):
            if eps == 0:
                continue
            iterative = white[(white["attack"] == attack) & (white["eps"] == eps)]
            fgsm = white[(white["attack"] == "fgsm") & (white["eps"] == eps)]
            comparisons.append((f"{attack} eps {eps:g}", stats.difference_interval(_points(iterative), _points(fgsm))))
    return _worst(model, "iterative attacks at least as strong as FGSM", comparisons, "acc(iterative) - acc(FGSM)")


def _large_eps(model: str, records: pd.DataFrame, max_accuracy: float) -> Check:
    check = "accuracy falls to chance at large eps"
    if records.empty:
        return _not_run(model, check)
    counts = pd.DataFrame([r | {"seed": s} for r, s in zip(records["large_eps"], records["seed"], strict=True)])
    interval = stats.accuracy_interval(counts["n_correct"].to_numpy(), counts["n_evaluated"].to_numpy())
    eps = counts["eps"].iloc[0]
    verdict = FLAG if interval.low > max_accuracy else PASS
    evidence = (
        f"PGD eps {eps:g}: accuracy {interval.mean:.3f} [{interval.low:.3f}, {interval.high:.3f}] "
        f"({interval.method}); FLAG above {max_accuracy:g}"
    )
    return Check(model, check, verdict, evidence, interval.mean, interval.low, interval.high)


def _paired(records: pd.DataFrame, field: str, a: str, b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = pd.DataFrame([r[a] | {"seed": s} for r, s in zip(records[field], records["seed"], strict=True)])
    second = pd.DataFrame([r[b] | {"seed": s} for r, s in zip(records[field], records["seed"], strict=True)])
    return first[COUNT_KEYS], second[COUNT_KEYS]


def _spsa_vs_pgd(model: str, records: pd.DataFrame) -> Check:
    check = "gradient-free SPSA not stronger than PGD"
    if records.empty:
        return _not_run(model, check)
    pgd, spsa = _paired(records, "spsa", "pgd", "spsa")
    eps = records["spsa"].iloc[0]["eps"]
    label = f"eps {eps:g}, {int(spsa['n_evaluated'].iloc[0])} digits"
    return _worst(model, check, [(label, stats.difference_interval(pgd, spsa))], "acc(PGD) - acc(SPSA)")


def _transfer_vs_whitebox(model: str, rows: pd.DataFrame) -> Check:
    white = rows[rows["kind"] == "white-box"]
    comparisons = []
    attacks = rows[rows["attack"].isin([a.value for a in AttackName])]  # the exact worst cases are no attack
    for (source, attack, eps), transfer in attacks[attacks["kind"] == "transfer"].groupby(["source", "attack", "eps"]):
        if eps == 0:
            continue
        own = white[(white["attack"] == attack) & (white["eps"] == eps)]
        if not own.empty:
            label = f"{attack} eps {eps:g} from {source}"
            comparisons.append((label, stats.difference_interval(_points(own), _points(transfer))))
    return _worst(model, "transfer not stronger than white-box", comparisons, "acc(white-box) - acc(transfer)")


def _restarts(model: str, records: pd.DataFrame) -> Check:
    check = "PGD restarts not stronger than one run"
    if records.empty:
        return _not_run(model, check)
    single, restarted = _paired(records, "restarts", "single", "all")
    first = records["restarts"].iloc[0]
    label = f"eps {first['eps']:g}, {first['restarts']} restarts"
    return _worst(model, check, [(label, stats.difference_interval(single, restarted))], "acc(1 run) - acc(restarts)")
