"""The paper's claims next to our verdicts, decided from the results table with confidence intervals.

Every comparison is a difference of accuracies at ``claims.low_eps`` with its 95% interval
(robqunn.stats: t over seeds, or with one seed normal over digits). Verdicts:

- "A beats B" claims: supported when every comparison is clearly positive (interval above 0);
  not supported when any is clearly negative; inconclusive otherwise (an interval contains 0).
- "A and B are alike" claims (an equivalence test): supported when every difference's interval
  lies inside [-alike_margin, +alike_margin]; not supported when any interval lies entirely outside
  it (clearly more different than the margin); inconclusive otherwise. A difference that is
  statistically nonzero but smaller than the margin still counts as alike.

Claims are decided per layout (rot_ent is the paper's circuit) and per attack, and on the exact robust
accuracy (attack ``exact``, robqunn.exact) where the study computed it: that row is the ground truth, the
attack rows beside it are labelled as what they are, upper bounds on robustness (column ``basis``).
"""

from __future__ import annotations

import itertools

import pandas as pd

from robqunn import stats
from robqunn.config import CNN, EXACT, WORST_CASE, ClaimsParams, ModelSpec

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = "supported", "not supported", "inconclusive", "not testable"
COUNTS = ["seed", "n_correct", "n_evaluated"]
PAPER = {
    "qunn_beats_cnn": "QuNNs are more robust than the CNN (up to 60% higher accuracy at low eps)",
    "full_most_random_least": "ZZ-full is the most robust ansatz and random the least",
    "similar_entanglement_alike": "ansaetze with similar entanglement (linear, star) behave alike at low eps",
    "cnn_to_qunn_transfer_alike": "CNN -> QuNN transfer is similar across ansaetze",
    "qunn_to_cnn_weaker": "QuNN -> CNN transfer is slightly weaker than CNN -> QuNN",
}


def claims_table(table: pd.DataFrame, params: ClaimsParams) -> pd.DataFrame:
    """One row per (claim, layout, attack): the paper's words, our numbers and the verdict."""
    qunns = [ModelSpec.from_name(m) for m in sorted(table["target"].unique()) if m != CNN]
    rows = []
    for layout in sorted({q.layout.value for q in qunns}):
        names = {q.ansatz.value: q.name for q in qunns if q.layout.value == layout}
        for attack in sorted(table["attack"].unique()):
            for claim, (verdict, evidence) in _decide(_Points(table, attack, params.low_eps), names, params).items():
                rows.append(
                    {
                        "claim": claim,
                        "paper": PAPER[claim],
                        "layout": layout,
                        "attack": attack,
                        "basis": _basis(claim, attack),
                    }
                    | {"eps": params.low_eps, "verdict": verdict, "evidence": evidence}
                )
    return pd.DataFrame(rows)


TRANSFER_CLAIMS = ("cnn_to_qunn_transfer_alike", "qunn_to_cnn_weaker")


def _basis(claim: str, attack: str) -> str:
    """What a verdict rests on: exact robust accuracy is the ground truth only for white-box claims; the
    transfer of one model's exact worst cases to another model is an attack like any other."""
    if attack == EXACT:
        return (
            "transfer of exact worst cases (an attack)"
            if claim in TRANSFER_CLAIMS
            else "exact robust accuracy (ground truth)"
        )
    if attack == WORST_CASE:
        return "worst case over the attacks (an upper bound)"
    return "attack accuracy (an upper bound)"


def _decide(at: _Points, names: dict[str, str], params: ClaimsParams) -> dict[str, tuple[str, str]]:
    """Verdict and evidence of every claim for one layout's QuNNs (``names``: ansatz -> model) and attack."""
    if at.rows.empty:
        return {claim: (NOT_TESTABLE, "no results at this eps") for claim in PAPER}
    margin = params.alike_margin
    return {
        "qunn_beats_cnn": _qunn_beats_cnn(at, names),
        "full_most_random_least": _full_most_random_least(at, names),
        "similar_entanglement_alike": _alike(at, names, ["linear", "star"], margin, "white"),
        "cnn_to_qunn_transfer_alike": _alike(at, names, list(names), margin, "transfer"),
        "qunn_to_cnn_weaker": _qunn_to_cnn_weaker(at, names),
    }


class _Points:
    """Per-seed counts of one attack at one eps, by (source, target)."""

    def __init__(self, table: pd.DataFrame, attack: str, eps: float):
        self.rows = table[(table["attack"] == attack) & (table["eps"] == eps)]

    def counts(self, source: str, target: str) -> pd.DataFrame:
        return self.rows[(self.rows["source"] == source) & (self.rows["target"] == target)][COUNTS]

    def accuracy(self, source: str, target: str) -> stats.Interval:
        c = self.counts(source, target)
        return stats.accuracy_interval(c["n_correct"].to_numpy(), c["n_evaluated"].to_numpy())

    def white(self, model: str) -> pd.DataFrame:
        return self.counts(model, model)


def _describe(label: str, interval: stats.Interval) -> str:
    return f"{label} {interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"


def _beats(differences: dict[str, stats.Interval]) -> str:
    if any(d.high < 0 for d in differences.values()):
        return NOT_SUPPORTED
    return SUPPORTED if all(d.low > 0 for d in differences.values()) else INCONCLUSIVE


def _qunn_beats_cnn(at: _Points, names: dict[str, str]) -> tuple[str, str]:
    if at.white(CNN).empty or not names:
        return NOT_TESTABLE, "needs the CNN and a QuNN"
    cnn = at.accuracy(CNN, CNN)
    differences = {a: stats.difference_interval(at.white(m), at.white(CNN)) for a, m in names.items()}
    gains = {a: (at.accuracy(m, m).mean - cnn.mean) / cnn.mean if cnn.mean else float("nan") for a, m in names.items()}
    evidence = (
        f"CNN {cnn.mean:.3f} [{cnn.low:.3f}, {cnn.high:.3f}]; acc(QuNN) - acc(CNN): "
        + "; ".join(_describe(a, d) for a, d in differences.items())
        + f"; relative gain {min(gains.values()):+.0%} to {max(gains.values()):+.0%} (paper: up to +60%)"
    )
    return _beats(differences), evidence


def _full_most_random_least(at: _Points, names: dict[str, str]) -> tuple[str, str]:
    if "full" not in names or "random" not in names or len(names) < 3:
        return NOT_TESTABLE, "needs full, random and another ansatz"
    others = [a for a in names if a not in ("full", "random")]
    full = {f"full - {a}": stats.difference_interval(at.white(names["full"]), at.white(names[a])) for a in others}
    full["full - random"] = stats.difference_interval(at.white(names["full"]), at.white(names["random"]))
    random = {f"{a} - random": stats.difference_interval(at.white(names[a]), at.white(names["random"])) for a in others}
    differences = full | random
    return _beats(differences), "; ".join(_describe(k, d) for k, d in differences.items())


def _alike(at: _Points, names: dict[str, str], ansatze: list[str], margin: float, kind: str) -> tuple[str, str]:
    present = [a for a in ansatze if a in names]
    if len(present) < 2 or (kind == "transfer" and at.counts(CNN, names[present[0]]).empty):
        return NOT_TESTABLE, f"needs two of {ansatze}" + (" and CNN -> QuNN transfer" if kind == "transfer" else "")

    def counts(ansatz: str) -> pd.DataFrame:
        return at.white(names[ansatz]) if kind == "white" else at.counts(CNN, names[ansatz])

    differences = {
        f"{a} - {b}": stats.difference_interval(counts(a), counts(b)) for a, b in itertools.combinations(present, 2)
    }
    if any(d.low > margin or d.high < -margin for d in differences.values()):
        verdict = NOT_SUPPORTED
    elif all(-margin <= d.low and d.high <= margin for d in differences.values()):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    evidence = "; ".join(_describe(k, d) for k, d in differences.items()) + f" (alike: within +-{margin:g})"
    return verdict, evidence


def _qunn_to_cnn_weaker(at: _Points, names: dict[str, str]) -> tuple[str, str]:
    usable = {a: m for a, m in names.items() if not at.counts(m, CNN).empty and not at.counts(CNN, m).empty}
    if not usable:
        return NOT_TESTABLE, "needs transfer both ways"
    differences = {a: stats.difference_interval(at.counts(m, CNN), at.counts(CNN, m)) for a, m in usable.items()}
    evidence = "acc(CNN on QuNN's examples) - acc(QuNN on CNN's examples): " + "; ".join(
        _describe(a, d) for a, d in differences.items()
    )
    return _beats(differences), evidence
