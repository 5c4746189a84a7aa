"""The attack-soundness checklist: is the white-box attack doing its job? The checks of Carlini et al. (2019)
and Athalye et al. (2018), decided across seeds by the ``aggregate`` stage (robqunn.stages.aggregate).

A model that looks robust may only hide its gradient (gradient masking), and one attack's accuracy is only
an upper bound on robustness. The checks, per model:

1. iterative attacks (PGD, MIM) are at least as strong as FGSM at the same eps;
2. PGD at a large eps (0.5 in L-inf: every pixel can be moved to mid-grey) brings accuracy to chance;
3. a gradient-free attack (SPSA) is not clearly stronger than PGD;
4. transfer examples from another model are not clearly stronger than white-box ones on this model;
5. PGD with random restarts is not clearly stronger than one run;
6. few input-gradient entries of the loss are exactly 0, at clean inputs and at inputs jittered by
   ``checks.jitter`` (a zero-bias ReLU that is off on black patches gives exact zeros, and FGSM and MIM
   then leave those pixels alone: the artefact behind our earlier CNN result);
7. random-start variants are not clearly stronger than the plain attack: FGSM with its gradient taken
   at a jittered point, R+FGSM (Tramer et al. 2018), MIM from a random point of the ball;
8. PGD with the margin (Carlini-Wagner) loss is not clearly stronger than with cross-entropy, nor is ART's
   AutoAttack (APGD-CE, APGD-T, Square: an attack suite independent of cleverhans), which must also never break
   a digit that exact verification certifies (robqunn.extra_attacks raises: that is a bug, not a finding);
9. no attack misses clearly more than ``checks.attack_gap_tolerance`` of the digits that the exact
   verification breaks (robqunn.exact; the results table's ``n_missed``): that attack is weak on the model.

"Clearly" means the 95% confidence interval excludes the bound (robqunn.stats: a t-interval over seeds,
or with one seed the normal interval over digits), so noise alone does not raise a FLAG. A FLAG is
evidence, not an error: it is reported with the cause it points to and what to trust instead, and never
stops the pipeline.

robqunn.extra_attacks.extra_attacks (the ``checks`` stage, robqunn.stages.checks) runs the attacks that
checks 2, 3 and 5-8 need on one (seed, model) and saves their counts (a robqunn.artifacts.ChecksRecord);
:func:`checklist` decides every check from those records of every seed and the results table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from robqunn import stats
from robqunn.artifacts import ChecksRecord
from robqunn.config import ChecksParams
from robqunn.vocabulary import AttackName

PASS, FLAG, NOT_RUN = "PASS", "FLAG", "NOT RUN"
COUNT_KEYS = ["seed", "n_correct", "n_evaluated"]


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of a model's checklist; a FLAG names the cause it points to and what to trust instead."""

    model: str
    check: str
    verdict: str
    evidence: str
    value: float
    ci_low: float
    ci_high: float
    cause: str = ""
    trust_instead: str = ""


ITERATIVE = "iterative attacks at least as strong as FGSM"
LARGE_EPS = "accuracy falls to chance at large eps"
SPSA = "gradient-free SPSA not stronger than PGD"
TRANSFER = "transfer not stronger than white-box"
RESTARTS = "PGD restarts not stronger than one run"
ZERO_CLEAN = "few exactly-zero input gradients at clean inputs"
ZERO_JITTERED = "few exactly-zero input gradients at jittered inputs"
JITTERED_FGSM = "FGSM from a jittered gradient point not stronger than FGSM"
RFGSM = "R+FGSM not stronger than FGSM"
MIM_RANDOM_START = "MIM from a random start not stronger than MIM"
MARGIN_LOSS = "PGD with the margin loss not stronger than with cross-entropy"
AUTOATTACK = "AutoAttack (ART) not stronger than PGD"
EOT_CONVERGED = "EOT with 4R draws not stronger than with R"
ONE_SAMPLE = "one-sample attack not clearly weaker than EOT"
SAMPLING_CHECKS = (EOT_CONVERGED, ONE_SAMPLE)  # models that sample (finite shots) only


def attack_gap_check(attack: str) -> str:
    return f"{attack} within tolerance of exact robust accuracy"


CHECK_NAMES = (ITERATIVE, LARGE_EPS, SPSA, TRANSFER, RESTARTS, ZERO_CLEAN, ZERO_JITTERED, JITTERED_FGSM, RFGSM)
CHECK_NAMES += (MIM_RANDOM_START, MARGIN_LOSS, AUTOATTACK)
CHECK_NAMES += tuple(attack_gap_check(attack.value) for attack in AttackName)
EXACT_TRUST = "the exact robust accuracy (attack 'exact'), then the worst case over attacks"
SINGLE_STEP_TRUST = "R+FGSM, PGD with a random start, the worst case over attacks and the exact robust accuracy"
FLAGGED_BECAUSE = {
    ITERATIVE: (
        "the iterative attack is failing (too few or too small steps, or a gradient that misleads it)",
        EXACT_TRUST,
    ),
    LARGE_EPS: ("gradient masking or a broken attack: an attack this large must succeed", EXACT_TRUST),
    SPSA: (
        "the gradient is masked or misleading: a gradient-free attack finds what PGD misses",
        f"SPSA, then {EXACT_TRUST}",
    ),
    TRANSFER: ("white-box gradients on this model are weaker than another model's: gradient masking", EXACT_TRUST),
    RESTARTS: ("one PGD run stops in poor local optima of a rugged loss", f"PGD with restarts, then {EXACT_TRUST}"),
    ZERO_CLEAN: (
        "exactly-zero input gradients (a zero-bias ReLU off on black patches, or a readout with only cos(pi x) "
        "terms in a pixel, flat at 0 and 1): FGSM and MIM leave those pixels alone and may overstate robustness; "
        "the random-start and attack-gap lines say whether they do",
        SINGLE_STEP_TRUST,
    ),
    ZERO_JITTERED: (
        "the loss is flat around the digits, not only at them (pixels that reach no feature, or dead units): "
        "gradient attacks cannot use those pixels; the attack-gap lines say whether that matters",
        EXACT_TRUST,
    ),
    JITTERED_FGSM: (
        "FGSM's gradient at the clean digit is zero or misleading; a point a hair away has a better one",
        SINGLE_STEP_TRUST,
    ),
    RFGSM: ("FGSM from the clean digit follows a zero or misleading gradient", SINGLE_STEP_TRUST),
    MIM_RANDOM_START: (
        "MIM started at the clean digit follows a zero or misleading gradient",
        f"MIM from a random start, PGD, then {EXACT_TRUST}",
    ),
    MARGIN_LOSS: (
        "cross-entropy saturates (a confident softmax has vanishing gradients)",
        f"PGD with the margin loss, then {EXACT_TRUST}",
    ),
    AUTOATTACK: (
        "PGD is weak on this model: an independent suite (APGD with two losses, targeted, and gradient-free Square) "
        "breaks more digits",
        f"AutoAttack, then {EXACT_TRUST}",
    ),
    EOT_CONVERGED: (
        "EOT with R draws has not converged: averaging the gradient over more sampling draws breaks more digits",
        "EOT with more draws (raise noise.eot_draws), the transfer from the model it samples from, the worst case",
    ),
    ONE_SAMPLE: (
        "obfuscated gradients (Athalye et al. 2018): the model's sampling makes a one-draw gradient noisy, so an "
        "attack that ignores the randomness overstates robustness",
        "the EOT attacks, the transfer from the model it samples from, then the worst case over attacks",
    ),
}
GAP_CAUSE = "the attack is weak on this model: it leaves standing digits whose exact worst case breaks them"


def checklist(table: pd.DataFrame, extra: list[ChecksRecord], params: ChecksParams) -> pd.DataFrame:
    """Every check for every model of the results table (all seeds), from it and ``extra`` (the
    robqunn.extra_attacks.extra_attacks records of every seed and model)."""
    records = pd.DataFrame([record.as_dict() for record in extra])
    rows = []
    for model in sorted(table["target"].unique()):
        mine = table[table["target"] == model]
        own = records[records["model"] == model] if len(records) else records
        rows += [
            _iterative_vs_fgsm(model, mine),
            _large_eps(model, own, params.large_eps_max_accuracy),
            _spsa_vs_pgd(model, own),
            _transfer_vs_whitebox(model, mine),
            _restarts(model, own),
            _zero_gradients(model, own, "clean", params.max_zero_gradient_fraction),
            _zero_gradients(model, own, "jittered", params.max_zero_gradient_fraction),
            _variant(model, own, JITTERED_FGSM, ("single_step", "fgsm", "jittered_fgsm")),
            _variant(model, own, RFGSM, ("single_step", "fgsm", "rfgsm")),
            _variant(model, own, MIM_RANDOM_START, ("momentum", "mim", "mim_random_start")),
            _variant(model, own, MARGIN_LOSS, ("loss", "cross_entropy", "margin")),
            _autoattack(model, own),
        ]
        samples = "eot" in own and own["eot"].notna().any()  # only a model that samples has EOT records
        rows += [_attack_gap(model, mine, attack.value, params.attack_gap_tolerance, samples) for attack in AttackName]
        if samples:
            rows += [
                _eot_variant(model, own, EOT_CONVERGED, ("eot", "eot_4x")),
                _eot_variant(model, own, ONE_SAMPLE, ("one_sample", "eot")),
            ]
    return pd.DataFrame([dataclasses.asdict(_explained(r)) for r in rows])


def _explained(check: Check) -> Check:
    """A FLAG with its cause and what to trust instead."""
    if check.verdict != FLAG:
        return check
    cause, trust = FLAGGED_BECAUSE.get(check.check, (GAP_CAUSE, EXACT_TRUST))
    return dataclasses.replace(check, cause=cause, trust_instead=trust)


def _not_run(model: str, check: str, why: str = "its extra attacks were not run") -> Check:
    return Check(model, check, NOT_RUN, why, float("nan"), float("nan"), float("nan"))


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[COUNT_KEYS]


def _worst(
    model: str, check: str, comparisons: Iterable[tuple[str, stats.Interval]], what: str, bound: float = 0.0
) -> Check:
    """FLAG when any quantity (expected <= ``bound``) is clearly above it; report the largest one."""
    comparisons = list(comparisons)
    if not comparisons:
        return Check(model, check, PASS, f"nothing to compare ({what})", float("nan"), float("nan"), float("nan"))
    label, worst = max(comparisons, key=lambda item: item[1].low)
    verdict = FLAG if worst.low > bound else PASS
    evidence = f"{label}: {what} {worst.mean:+.3f} [{worst.low:+.3f}, {worst.high:+.3f}] ({worst.method})"
    if bound:
        evidence += f"; FLAG above {bound:g}"
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
    return _worst(model, ITERATIVE, comparisons, "acc(iterative) - acc(FGSM)")


def _large_eps(model: str, records: pd.DataFrame, max_accuracy: float) -> Check:
    if records.empty:
        return _not_run(model, LARGE_EPS)
    counts = pd.DataFrame([r | {"seed": s} for r, s in zip(records["large_eps"], records["seed"], strict=True)])
    interval = stats.accuracy_interval(counts["n_correct"].to_numpy(), counts["n_evaluated"].to_numpy())
    eps = counts["eps"].iloc[0]
    verdict = FLAG if interval.low > max_accuracy else PASS
    evidence = (
        f"PGD eps {eps:g}: accuracy {interval.mean:.3f} [{interval.low:.3f}, {interval.high:.3f}] "
        f"({interval.method}); FLAG above {max_accuracy:g}"
    )
    return Check(model, LARGE_EPS, verdict, evidence, interval.mean, interval.low, interval.high)


def _paired(records: pd.DataFrame, field: str, a: str, b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = pd.DataFrame([r[a] | {"seed": s} for r, s in zip(records[field], records["seed"], strict=True)])
    second = pd.DataFrame([r[b] | {"seed": s} for r, s in zip(records[field], records["seed"], strict=True)])
    return first[COUNT_KEYS], second[COUNT_KEYS]


def _autoattack(model: str, records: pd.DataFrame) -> Check:
    if records.empty or "autoattack" not in records or records["autoattack"].isna().any():
        why = "its extra attacks were not run" if records.empty else "a model that samples has no AutoAttack (no EOT)"
        return _not_run(model, AUTOATTACK, why)
    pgd, suite = _paired(records, "autoattack", "pgd", "autoattack")
    first = records["autoattack"].iloc[0]
    label = f"eps {first['eps']:g}, {int(suite['n_evaluated'].iloc[0])} digits"
    return _worst(model, AUTOATTACK, [(label, stats.difference_interval(pgd, suite))], "acc(PGD) - acc(AutoAttack)")


def _spsa_vs_pgd(model: str, records: pd.DataFrame) -> Check:
    if records.empty:
        return _not_run(model, SPSA)
    pgd, spsa = _paired(records, "spsa", "pgd", "spsa")
    eps = records["spsa"].iloc[0]["eps"]
    label = f"eps {eps:g}, {int(spsa['n_evaluated'].iloc[0])} digits"
    return _worst(model, SPSA, [(label, stats.difference_interval(pgd, spsa))], "acc(PGD) - acc(SPSA)")


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
    return _worst(model, TRANSFER, comparisons, "acc(white-box) - acc(transfer)")


def _restarts(model: str, records: pd.DataFrame) -> Check:
    if records.empty:
        return _not_run(model, RESTARTS)
    single, restarted = _paired(records, "restarts", "single", "all")
    first = records["restarts"].iloc[0]
    label = f"eps {first['eps']:g}, {first['restarts']} restarts"
    return _worst(
        model, RESTARTS, [(label, stats.difference_interval(single, restarted))], "acc(1 run) - acc(restarts)"
    )


def _zero_gradients(model: str, records: pd.DataFrame, where: str, max_fraction: float) -> Check:
    """FLAG when the mean per-digit fraction of exactly-zero input-gradient entries is clearly above
    ``max_fraction``: a t-interval over the digits with one seed, over the seeds' means with more."""
    check = ZERO_CLEAN if where == "clean" else ZERO_JITTERED
    if records.empty:
        return _not_run(model, check)
    fractions = [record[where] for record in records["zero_gradients"]]
    interval = _mean_interval(fractions)
    jitter = records["zero_gradients"].iloc[0]["jitter"]
    label = "at the digits" if where == "clean" else f"jittered by {jitter:g}"
    return _worst(model, check, [(label, interval)], "fraction of exactly-0 entries", bound=max_fraction)


def _mean_interval(fractions: list[dict]) -> stats.Interval:
    if len(fractions) > 1:
        return stats.t_interval(np.array([f["mean"] for f in fractions]))
    from scipy.stats import t

    (only,) = fractions
    n = only["n_digits"]
    half = float(t.ppf(0.5 + stats.LEVEL / 2, n - 1) * only["sd"] / np.sqrt(n)) if n > 1 else float("nan")
    return stats.Interval(only["mean"], only["mean"] - half, only["mean"] + half, f"t over {n} digits")


def _variant(model: str, records: pd.DataFrame, check: str, fields: tuple[str, str, str]) -> Check:
    """A variant of an attack (random start, other loss) is not clearly stronger than the plain one."""
    if records.empty:
        return _not_run(model, check)
    field, plain, variant = fields
    first, second = _paired(records, field, plain, variant)
    label = f"eps {records[field].iloc[0]['eps']:g}, {int(first['n_evaluated'].iloc[0])} digits"
    return _worst(model, check, [(label, stats.difference_interval(first, second))], f"acc({plain}) - acc({variant})")


def _eot_variant(model: str, records: pd.DataFrame, check: str, pair: tuple[str, str]) -> Check:
    """FLAG when the first PGD of ``pair`` (fewer draws) is clearly weaker than the second (more draws)."""
    weaker, stronger = _paired(records, "eot", *pair)
    first = records["eot"].iloc[0]
    draws = {"one_sample": 1, "eot": first["draws"], "eot_4x": 4 * first["draws"]}
    label = f"PGD eps {first['eps']:g}, {int(weaker['n_evaluated'].iloc[0])} digits"
    what = f"acc({draws[pair[0]]} draws) - acc({draws[pair[1]]} draws)"
    return _worst(model, check, [(label, stats.difference_interval(weaker, stronger))], what)


def _attack_gap(model: str, rows: pd.DataFrame, attack: str, tolerance: float, samples: bool = False) -> Check:
    """FLAG ``attack`` as weak on ``model`` when, at some eps, the fraction of digits it leaves standing
    but whose exact worst case breaks them (``n_missed``) is clearly above ``tolerance``. Not run on a model
    that ``samples`` (finite shots): it has no exact robust accuracy of its own."""
    check = attack_gap_check(attack)
    white = rows[(rows["kind"] == "white-box") & (rows["attack"] == attack) & rows["n_missed"].notna()]
    if samples:
        return _not_run(model, check, "a model that samples has no exact robust accuracy (its expectation's is exact)")
    if white.empty:
        return _not_run(model, check, "no exact robust accuracy at this attack's eps")
    comparisons = []
    for eps, point in white[white["eps"] > 0].groupby("eps"):
        interval = stats.accuracy_interval(point["n_missed"].to_numpy(int), point["n_evaluated"].to_numpy(int))
        comparisons.append((f"eps {eps:g}", interval))
    return _worst(model, check, comparisons, "fraction of digits missed", bound=tolerance)
