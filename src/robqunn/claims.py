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

Beside the paper's five claims, the follow-up paper's opposite one (arXiv 2411.11870: higher expressibility
and lower entangling capability make a QuNN more robust), decided from the ansatz metrics: for every pair of
ansaetze where one is both more expressive (lower KL) and less entangling than the other, it must be the
more robust one.

For an inconclusive verdict, ``seeds_needed`` is a power calculation (robqunn.stats.seeds_needed, 80%
power): the seeds that would decide it at the observed means and per-seed spread, in whichever direction
needs fewer. With one seed the spread across seeds is unobserved; the digits' binomial spread stands in,
which leaves out training variation, so the number is a lower bound (``seeds_needed_basis`` says which).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from robqunn import stats
from robqunn.config import ClaimsParams
from robqunn.vocabulary import CNN, EXACT, WORST_CASE, Ansatz, Layout, ModelSpec, TrainMethod

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = "supported", "not supported", "inconclusive", "not testable"
COUNTS = ["seed", "n_correct", "n_evaluated"]
PAPER = {
    "qunn_beats_cnn": "QuNNs are more robust than the CNN (up to 60% higher accuracy at low eps)",
    "full_most_random_least": "ZZ-full is the most robust ansatz and random the least",
    "similar_entanglement_alike": "ansaetze with similar entanglement (linear, star) behave alike at low eps",
    "cnn_to_qunn_transfer_alike": "CNN -> QuNN transfer is similar across ansaetze",
    "qunn_to_cnn_weaker": "QuNN -> CNN transfer is slightly weaker than CNN -> QuNN",
    "expressive_less_entangling_robust": (
        "higher expressibility and lower entangling capability make a QuNN more robust (arXiv 2411.11870)"
    ),
}
# Hardware realism (docs/noise.md), decided when the study has noisy or finite-shot models (params ``noise``).
NOISE_CLAIMS = {
    "noise_improves_robustness": (
        "quantum noise protects quantum classifiers against adversarial attacks (Du et al. 2021): each noisy "
        "model is more robust than its noiseless circuit"
    ),
    "shots_improve_robustness": (
        "reading the circuit out from finite shots makes a QuNN more robust than its exact expectation"
    ),
}
# Robust training (docs/design.md, "Robust training"), decided on exact robust accuracy at train.robust.eps when the
# study has robustly trained heads (train.methods), each with its clean-accuracy cost in the evidence.
ROBUST_CLAIMS = {
    "robust_qunn_beats_cnn": "robust training makes a QuNN more robust than the CNN trained the same way",
    "entangling_gain_more": "entangling ansaetze gain more from robust training than the unentangled one",
    "exact_beats_pgd_training": "exact training beats PGD training at eps_train",
}
METRICS = ["expressibility_kl", "entangling_capability"]


@dataclass(frozen=True)
class Comparison:
    """One difference behind a verdict: its interval, its per-seed standard deviation, the bound it is
    decided against, and whether it lies on the claim's side of that bound (supports) or not (refutes)."""

    interval: stats.Interval
    sd: stats.SeedSpread
    bound: float
    supports: bool


def claims_table(
    table: pd.DataFrame, params: ClaimsParams, metrics: pd.DataFrame | None = None, robust_eps: float | None = None
) -> pd.DataFrame:
    """One row per (claim, layout, attack): the claim's words, our numbers, the verdict and, when it is
    inconclusive, the seeds that would decide it.

    Args:
        metrics: the ansatz metrics, one row per (seed, model) (robqunn.ansatz_metrics); without them the
            follow-up paper's claim is not testable.
        robust_eps: train.robust.eps, where the robust-training claims are decided (:func:`robust_claims`)
            when the table holds robustly trained heads.
    """
    specs = [ModelSpec.from_name(m) for m in sorted(table["target"].unique())]
    qunns = [spec for spec in specs if not spec.is_cnn and not spec.method.label]  # the paper's: standard heads
    versions = [q for q in qunns if q.hardware_labels]
    rows = []
    for layout in sorted({q.layout.value for q in qunns}):
        names = {q.ansatz.value: q.name for q in qunns if q.layout.value == layout and not q.hardware_labels}
        mine = [q for q in versions if q.layout.value == layout]
        for attack in sorted(table["attack"].unique()):
            at = _Points(table, attack, params.low_eps)
            decisions = _decide(at, names, params, metrics) | (_decide_noise(at, mine) if mine else {})
            for claim, (verdict, evidence, comparisons) in decisions.items():
                rows.append(
                    {"claim": claim, "paper": (PAPER | NOISE_CLAIMS)[claim], "layout": layout, "attack": attack}
                    | {"basis": _basis(claim, attack), "eps": params.low_eps, "verdict": verdict, "evidence": evidence}
                    | _seeds_needed(verdict, comparisons)
                )
    if robust_eps is not None:
        rows += robust_claims(table, robust_eps)
    return pd.DataFrame(rows).astype({"seeds_needed": "Int64"})


# --- robust training --------------------------------------------------------------------------------


def robust_claims(table: pd.DataFrame, eps: float) -> list[dict]:
    """The rows of the robust-training claims (:data:`ROBUST_CLAIMS`), one per (claim, method) where the table has
    the models, decided on exact robust accuracy at ``eps``; layout "all" (each comparison is named)."""
    if table[table["attack"] == EXACT].empty:
        return []
    specs = [ModelSpec.from_name(m) for m in sorted(table["target"].unique())]
    layers = _robust_layers(specs)
    methods = sorted({s.method for s in specs if s.method.label}, key=list(TrainMethod).index)
    at, clean = _Points(table, EXACT, eps), _Points(table, EXACT, 0.0)
    decisions = {}
    for method in methods:
        decisions[("robust_qunn_beats_cnn", method.value)] = _robust_beats_cnn(at, clean, layers, method)
        decisions[("entangling_gain_more", method.value)] = _entangling_gain_more(at, layers, method)
    if {TrainMethod.PGD, TrainMethod.EXACT} <= set(methods):
        decisions[("exact_beats_pgd_training", "exact vs pgd")] = _exact_beats_pgd(at, clean, layers)
    return [
        {"claim": claim, "paper": ROBUST_CLAIMS[claim], "layout": "all", "attack": EXACT}
        | {"basis": f"exact robust accuracy (ground truth), {method} training", "eps": eps}
        | {"verdict": verdict, "evidence": evidence}
        | _seeds_needed(verdict, comparisons)
        for (claim, method), (verdict, evidence, comparisons) in decisions.items()
    ]


def _robust_layers(specs: list[ModelSpec]) -> dict[str, dict[TrainMethod, str]]:
    """{feature layer (its standard model's name): {method: model}} of the noiseless, exactly read-out models."""
    layers: dict[str, dict[TrainMethod, str]] = {}
    for spec in (s for s in specs if not s.hardware_labels):
        layers.setdefault(dataclasses.replace(spec, method=TrainMethod.STANDARD).name, {})[spec.method] = spec.name
    return layers


def _entangling(layer: str) -> bool:
    """A circuit whose entanglers change its readout: random, or a ZZ ansatz under ent_rot (docs/design.md, "The
    invariance property")."""
    spec = ModelSpec.from_name(layer)
    return (
        not spec.is_cnn
        and spec.ansatz is not Ansatz.NONE
        and (spec.layout is Layout.ENT_ROT or spec.ansatz is Ansatz.RANDOM)
    )


def _cost(clean: _Points, a: str, b: str) -> str:
    d = stats.difference_interval(clean.white(a), clean.white(b))
    return f"clean {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def _robust_beats_cnn(at: _Points, clean: _Points, layers: dict, method: TrainMethod) -> Decision:
    cnn = layers.get(CNN, {}).get(method)
    qunns = {layer: models[method] for layer, models in layers.items() if layer != CNN and method in models}
    if cnn is None or not qunns or at.white(cnn).empty:
        return NOT_TESTABLE, f"needs the CNN and a QuNN trained by {method.value}", []
    differences = {q: _difference(at.white(m), at.white(cnn)) for q, m in qunns.items()}
    evidence = f"acc({method.value}-trained QuNN) - acc({cnn}): " + "; ".join(
        f"{_describe(q, d.interval)} ({_cost(clean, qunns[q], cnn)})" for q, d in differences.items()
    )
    return _beats_decision(differences, evidence)


def _entangling_gain_more(at: _Points, layers: dict, method: TrainMethod) -> Decision:
    """gain(entangling) - gain(unentangled) > 0, each gain acc(method) - acc(standard) of one circuit, per seed."""
    complete = {layer: m for layer, m in layers.items() if {method, TrainMethod.STANDARD} <= set(m)}
    plain = [layer for layer in complete if not ModelSpec.from_name(layer).is_cnn and not _entangling(layer)]
    entangling = [layer for layer in complete if _entangling(layer)]
    if not plain or not entangling:
        return NOT_TESTABLE, f"needs an unentangled and an entangling circuit, each standard and {method.value}", []
    reference = complete[plain[0]]
    differences = {f"{e} - {plain[0]}": _gain_difference(at, complete[e], reference, method) for e in entangling}
    evidence = f"gain = acc({method.value}) - acc(standard); gain difference: " + "; ".join(
        _describe(k, d.interval) for k, d in differences.items()
    )
    return _beats_decision(differences, evidence)


def _gain_difference(at: _Points, models: dict, reference: dict, method: TrainMethod) -> Comparison:
    """(a_m - a_s) - (r_m - r_s) paired by seed: a t-interval over two or more seeds, else normal over digits."""
    frames = [
        at.white(group[key]).set_index("seed")
        for group in (models, reference)
        for key in (method, TrainMethod.STANDARD)
    ]
    seeds = sorted(set.intersection(*(set(f.index) for f in frames)))
    p = [f.loc[seeds, "n_correct"].to_numpy() / f.loc[seeds, "n_evaluated"].to_numpy() for f in frames]
    values = (p[0] - p[1]) - (p[2] - p[3])
    if len(seeds) >= 2:
        interval = stats.t_interval(values)
        spread = stats.SeedSpread(float(np.std(values, ddof=1)), f"t over {len(seeds)} seeds")
    else:
        n = [int(f.loc[seeds[0], "n_evaluated"]) for f in frames]
        sd = math.sqrt(sum(float(q[0]) * (1 - float(q[0])) / k for q, k in zip(p, n, strict=True)))
        half = float(scipy_stats.norm.ppf(0.5 + stats.LEVEL / 2)) * sd
        interval = stats.Interval(
            float(values[0]), float(values[0]) - half, float(values[0]) + half, f"normal over {n[0]} digits, 1 seed"
        )
        spread = stats.SeedSpread(sd, f"lower bound: 1 seed, the spread of {n[0]} digits for that of seeds")
    return Comparison(interval, spread, 0.0, interval.mean > 0)


def _exact_beats_pgd(at: _Points, clean: _Points, layers: dict) -> Decision:
    both = {layer: m for layer, m in layers.items() if {TrainMethod.PGD, TrainMethod.EXACT} <= set(m)}
    differences = {
        layer: _difference(at.white(m[TrainMethod.EXACT]), at.white(m[TrainMethod.PGD])) for layer, m in both.items()
    }
    evidence = "acc(exact-trained) - acc(pgd-trained): " + "; ".join(
        f"{_describe(layer, d.interval)} ({_cost(clean, both[layer][TrainMethod.EXACT], both[layer][TrainMethod.PGD])})"
        for layer, d in differences.items()
    )
    return _beats_decision(differences, evidence)


def _seeds_needed(verdict: str, comparisons: list[Comparison]) -> dict:
    """The fewest seeds that decide an inconclusive verdict, at 80% power: all supporting comparisons
    decided (the most seeds any needs) or one refuting comparison decided (the fewest any needs)."""
    if verdict != INCONCLUSIVE or not comparisons:
        return {"seeds_needed": pd.NA, "seeds_needed_basis": ""}

    def needed(c: Comparison) -> int | None:
        return stats.seeds_needed(c.interval.mean, c.sd.sd, threshold=c.bound)

    support = [needed(c) for c in comparisons] if all(c.supports for c in comparisons) else [None]
    options = [max(support)] if None not in support else []
    options += [n for n in (needed(c) for c in comparisons if not c.supports) if n is not None]
    basis = comparisons[0].sd.basis
    if not options:
        return {"seeds_needed": pd.NA, "seeds_needed_basis": f"no number of seeds decides it ({basis})"}
    return {"seeds_needed": min(options), "seeds_needed_basis": basis}


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


Decision = tuple[str, str, list[Comparison]]  # verdict, evidence, the comparisons behind it


def _decide(at: _Points, names: dict[str, str], params: ClaimsParams, metrics: pd.DataFrame | None) -> dict:
    """Verdict, evidence and comparisons of every claim for one layout's QuNNs (``names``: ansatz -> model)
    and attack."""
    if at.rows.empty:
        return {claim: (NOT_TESTABLE, "no results at this eps", []) for claim in PAPER}
    margin = params.alike_margin
    return {
        "qunn_beats_cnn": _qunn_beats_cnn(at, names),
        "full_most_random_least": _full_most_random_least(at, names),
        "similar_entanglement_alike": _alike(at, names, ["linear", "star"], margin, "white"),
        "cnn_to_qunn_transfer_alike": _alike(at, names, list(names), margin, "transfer"),
        "qunn_to_cnn_weaker": _qunn_to_cnn_weaker(at, names),
        "expressive_less_entangling_robust": _expressive_less_entangling(at, names, metrics),
    }


def _decide_noise(at: _Points, versions: list[ModelSpec]) -> dict:
    """The noise claims for one layout and attack: each noisy model (read out exactly) against its noiseless
    circuit, and each finite-shot model against the model it samples from (its exact expectation). A
    finite-shot model has no exact robust accuracy of its own: its row of attack ``exact`` scores the
    expectation's worst cases, an attack, so the shots claim is not tested on it."""
    noisy = {v.name: v.circuit_name for v in versions if v.shots is None}
    sampled = {v.name: v.expectation.name for v in versions if v.shots is not None}
    shots = _versions_beat(at, sampled, "finite-shot")
    if at.rows["attack"].eq(EXACT).any():
        shots = NOT_TESTABLE, "a finite-shot model has no exact robust accuracy of its own (docs/noise.md)", []
    return {"noise_improves_robustness": _versions_beat(at, noisy, "noisy"), "shots_improve_robustness": shots}


def _versions_beat(at: _Points, baselines: dict[str, str], what: str) -> Decision:
    """Each model of ``baselines`` (model -> its baseline) more robust, white-box, than its baseline."""
    pairs = {m: b for m, b in baselines.items() if not at.white(m).empty and not at.white(b).empty}
    if not pairs:
        return NOT_TESTABLE, f"needs a {what} model and its baseline at this attack and eps", []
    differences = {f"{m} - {b}": _difference(at.white(m), at.white(b)) for m, b in pairs.items()}
    evidence = "acc(version) - acc(baseline): " + "; ".join(_describe(k, d.interval) for k, d in differences.items())
    return _beats_decision(differences, evidence)


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


def _difference(a: pd.DataFrame, b: pd.DataFrame, bound: float = 0.0) -> Comparison:
    """acc(a) - acc(b) as a comparison against ``bound`` (0: "a beats b")."""
    interval = stats.difference_interval(a, b)
    return Comparison(interval, stats.difference_spread(a, b), bound, interval.mean > bound)


def _beats(comparisons: dict[str, Comparison]) -> str:
    if any(c.interval.high < 0 for c in comparisons.values()):
        return NOT_SUPPORTED
    return SUPPORTED if all(c.interval.low > 0 for c in comparisons.values()) else INCONCLUSIVE


def _beats_decision(comparisons: dict[str, Comparison], evidence: str) -> Decision:
    return _beats(comparisons), evidence, list(comparisons.values())


def _qunn_beats_cnn(at: _Points, names: dict[str, str]) -> Decision:
    if at.white(CNN).empty or not names:
        return NOT_TESTABLE, "needs the CNN and a QuNN", []
    cnn = at.accuracy(CNN, CNN)
    differences = {a: _difference(at.white(m), at.white(CNN)) for a, m in names.items()}
    gains = {a: (at.accuracy(m, m).mean - cnn.mean) / cnn.mean if cnn.mean else float("nan") for a, m in names.items()}
    evidence = (
        f"CNN {cnn.mean:.3f} [{cnn.low:.3f}, {cnn.high:.3f}]; acc(QuNN) - acc(CNN): "
        + "; ".join(_describe(a, d.interval) for a, d in differences.items())
        + f"; relative gain {min(gains.values()):+.0%} to {max(gains.values()):+.0%} (paper: up to +60%)"
    )
    return _beats_decision(differences, evidence)


def _full_most_random_least(at: _Points, names: dict[str, str]) -> Decision:
    if "full" not in names or "random" not in names or len(names) < 3:
        return NOT_TESTABLE, "needs full, random and another ansatz", []
    others = [a for a in names if a not in ("full", "random")]
    full = {f"full - {a}": _difference(at.white(names["full"]), at.white(names[a])) for a in others}
    full["full - random"] = _difference(at.white(names["full"]), at.white(names["random"]))
    random = {f"{a} - random": _difference(at.white(names[a]), at.white(names["random"])) for a in others}
    differences = full | random
    return _beats_decision(differences, "; ".join(_describe(k, d.interval) for k, d in differences.items()))


def _alike(at: _Points, names: dict[str, str], ansatze: list[str], margin: float, kind: str) -> Decision:
    present = [a for a in ansatze if a in names]
    if len(present) < 2 or (kind == "transfer" and at.counts(CNN, names[present[0]]).empty):
        needs = f"needs two of {ansatze}" + (" and CNN -> QuNN transfer" if kind == "transfer" else "")
        return NOT_TESTABLE, needs, []

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
    comparisons = [
        Comparison(
            d, stats.difference_spread(counts(a), counts(b)), math.copysign(margin, d.mean), abs(d.mean) < margin
        )
        for (a, b), d in zip(itertools.combinations(present, 2), differences.values(), strict=True)
    ]
    evidence = "; ".join(_describe(k, d) for k, d in differences.items()) + f" (alike: within +-{margin:g})"
    return verdict, evidence, comparisons


def _qunn_to_cnn_weaker(at: _Points, names: dict[str, str]) -> Decision:
    usable = {a: m for a, m in names.items() if not at.counts(m, CNN).empty and not at.counts(CNN, m).empty}
    if not usable:
        return NOT_TESTABLE, "needs transfer both ways", []
    differences = {a: _difference(at.counts(m, CNN), at.counts(CNN, m)) for a, m in usable.items()}
    evidence = "acc(CNN on QuNN's examples) - acc(QuNN on CNN's examples): " + "; ".join(
        _describe(a, d.interval) for a, d in differences.items()
    )
    return _beats_decision(differences, evidence)


def _expressive_less_entangling(at: _Points, names: dict[str, str], metrics: pd.DataFrame | None) -> Decision:
    """Every ansatz both more expressive (lower KL) and less entangling than another must beat it."""
    if metrics is None or metrics.empty:
        return NOT_TESTABLE, "needs the ansatz metrics", []
    means = metrics.groupby("model")[METRICS].mean()
    known = {a: m for a, m in names.items() if m in means.index and not at.white(m).empty}
    pairs = [
        (a, b)
        for a, b in itertools.permutations(known, 2)
        if (means.loc[known[a], METRICS] < means.loc[known[b], METRICS]).all()
    ]
    if not pairs:
        return NOT_TESTABLE, "no ansatz is both more expressive and less entangling than another here", []
    differences = {f"{a} - {b}": _difference(at.white(known[a]), at.white(known[b])) for a, b in pairs}
    metric_text = ", ".join(
        f"{a} (KL {means.loc[m, METRICS[0]]:.3f}, Q {means.loc[m, METRICS[1]]:.3f})" for a, m in known.items()
    )
    evidence = "; ".join(_describe(k, d.interval) for k, d in differences.items()) + f"; metrics: {metric_text}"
    return _beats_decision(differences, evidence)
