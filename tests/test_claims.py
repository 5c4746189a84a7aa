"""Claims table: each verdict reached on a synthetic table built for it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robqunn import claims
from robqunn.config import ClaimsParams

N = 1000
PARAMS = ClaimsParams(low_eps=0.1, alike_margin=0.05)
LAYOUT = "ent_rot"


def table(white, cnn_to=None, to_cnn=None, seeds=(42,), spread=0.0):
    """White-box accuracies at eps 0.1 by model short name ('cnn', 'full', ...), transfer both ways.

    ``spread`` adds +-spread across seeds (seed i gets (i - mean) * spread), to make intervals wide.
    """
    rows = []
    centre = (len(seeds) - 1) / 2

    def add(source, target, accuracy):
        for i, seed in enumerate(seeds):
            value = min(1.0, max(0.0, accuracy + (i - centre) * spread))
            kind = "white-box" if source == target else "transfer"
            rows.append(
                {"seed": seed, "source": source, "target": target, "kind": kind, "attack": "fgsm", "eps": 0.1}
                | {"n_correct": round(value * N), "n_evaluated": N, "accuracy": round(value * N) / N}
            )

    def name(short):
        return short if short == "cnn" else f"qunn-{short}-{LAYOUT}"

    for model, accuracy in white.items():
        add(name(model), name(model), accuracy)
    for model, accuracy in (cnn_to or {}).items():
        add("cnn", name(model), accuracy)
    for model, accuracy in (to_cnn or {}).items():
        add(name(model), "cnn", accuracy)
    return pd.DataFrame(rows)


def verdict(frame, claim):
    row = frame[(frame["claim"] == claim) & (frame["layout"] == LAYOUT)]
    assert len(row) == 1
    return row["verdict"].iloc[0], row["evidence"].iloc[0]


ANSATZE = {"none": 0.5, "full": 0.7, "linear": 0.55, "star": 0.55, "random": 0.3}


class TestQunnBeatsCnn:
    def test_supported_with_the_relative_gain(self):
        got, evidence = verdict(claims.claims_table(table({"cnn": 0.2} | ANSATZE), PARAMS), "qunn_beats_cnn")
        assert got == claims.SUPPORTED
        assert "relative gain +50% to +250% (paper: up to +60%)" in evidence

    def test_not_supported_when_a_qunn_is_clearly_weaker(self):
        """random (0.3) is clearly below the CNN (0.4), though full (0.7) is clearly above."""
        got, _ = verdict(claims.claims_table(table({"cnn": 0.4} | ANSATZE), PARAMS), "qunn_beats_cnn")
        assert got == claims.NOT_SUPPORTED

    def test_inconclusive_when_intervals_overlap(self):
        white = {"cnn": 0.50, "full": 0.52, "random": 0.51}
        got, _ = verdict(claims.claims_table(table(white), PARAMS), "qunn_beats_cnn")
        assert got == claims.INCONCLUSIVE


class TestRanking:
    def test_full_most_random_least_supported(self):
        got, _ = verdict(claims.claims_table(table({"cnn": 0.4} | ANSATZE), PARAMS), "full_most_random_least")
        assert got == claims.SUPPORTED

    def test_not_supported_when_random_beats_another(self):
        white = ANSATZE | {"random": 0.6}
        got, _ = verdict(claims.claims_table(table({"cnn": 0.4} | white), PARAMS), "full_most_random_least")
        assert got == claims.NOT_SUPPORTED

    def test_not_testable_without_random(self):
        white = {k: v for k, v in ANSATZE.items() if k != "random"}
        got, _ = verdict(claims.claims_table(table({"cnn": 0.4} | white), PARAMS), "full_most_random_least")
        assert got == claims.NOT_TESTABLE


class TestAlike:
    def test_equal_accuracies_on_many_seeds_are_alike(self):
        """linear == star on 5 seeds with small spread: the interval of the difference is within +-0.05."""
        frame = claims.claims_table(table({"cnn": 0.4} | ANSATZE, seeds=(1, 2, 3, 4, 5), spread=0.01), PARAMS)
        assert verdict(frame, "similar_entanglement_alike")[0] == claims.SUPPORTED

    def test_one_seed_interval_too_wide_is_inconclusive(self):
        """One seed, 1,000 digits, 0.50 vs 0.52: the difference's interval, -0.02 +- 0.044, contains 0
        but reaches past -0.05: neither shown alike nor shown different."""
        white = {"cnn": 0.4} | ANSATZE | {"linear": 0.50, "star": 0.52}
        assert (
            verdict(claims.claims_table(table(white), PARAMS), "similar_entanglement_alike")[0] == claims.INCONCLUSIVE
        )

    def test_clearly_different_is_not_supported(self):
        white = {"cnn": 0.4} | ANSATZE | {"linear": 0.3, "star": 0.6}
        assert (
            verdict(claims.claims_table(table(white), PARAMS), "similar_entanglement_alike")[0] == claims.NOT_SUPPORTED
        )

    def test_small_but_clear_difference_is_still_alike(self):
        """0.50 vs 0.52 on 5 seeds with no spread: clearly nonzero, but inside +-0.05: supported."""
        white = {"cnn": 0.4} | ANSATZE | {"linear": 0.50, "star": 0.52}
        frame = claims.claims_table(table(white, seeds=(1, 2, 3, 4, 5), spread=0.001), PARAMS)
        assert verdict(frame, "similar_entanglement_alike")[0] == claims.SUPPORTED

    def test_cnn_to_qunn_transfer_alike_across_ansatze(self):
        cnn_to = {"full": 0.8, "random": 0.6}
        frame = claims.claims_table(table({"cnn": 0.4, "full": 0.7, "random": 0.3}, cnn_to=cnn_to), PARAMS)
        assert verdict(frame, "cnn_to_qunn_transfer_alike")[0] == claims.NOT_SUPPORTED


class TestTransferDirection:
    def test_qunn_to_cnn_weaker_supported(self):
        frame = claims.claims_table(
            table({"cnn": 0.4, "full": 0.7}, cnn_to={"full": 0.6}, to_cnn={"full": 0.8}), PARAMS
        )
        assert verdict(frame, "qunn_to_cnn_weaker")[0] == claims.SUPPORTED

    def test_not_testable_without_transfer(self):
        frame = claims.claims_table(table({"cnn": 0.4, "full": 0.7}), PARAMS)
        assert verdict(frame, "qunn_to_cnn_weaker")[0] == claims.NOT_TESTABLE


def metrics(values: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Ansatz metrics by short name: (expressibility KL, entangling capability), one seed."""
    return pd.DataFrame(
        [
            {"seed": 42, "model": f"qunn-{a}-{LAYOUT}", "expressibility_kl": kl, "entangling_capability": q}
            for a, (kl, q) in values.items()
        ]
    )


class TestExpressiveLessEntangling:
    """The follow-up paper's claim (arXiv 2411.11870), decided on the pairs that the metrics order both ways."""

    CLAIM = "expressive_less_entangling_robust"
    # none: least expressive, unentangled; full: expressive, entangling; random: most expressive, less entangling
    METRICS = {"none": (0.9, 0.0), "full": (0.2, 0.6), "random": (0.1, 0.3)}

    def decide(self, white, values=None):
        frame = claims.claims_table(table(white), PARAMS, metrics(values or self.METRICS))
        return verdict(frame, self.CLAIM)

    def test_supported_when_the_ordered_pair_is_clearly_more_robust(self):
        """Only random vs full is ordered both ways (more expressive and less entangling)."""
        got, evidence = self.decide({"cnn": 0.3, "none": 0.2, "full": 0.4, "random": 0.6})
        assert got == claims.SUPPORTED
        assert "random - full" in evidence and "none" not in evidence.split(";")[0]

    def test_not_supported_when_it_is_clearly_less_robust(self):
        got, _ = self.decide({"cnn": 0.3, "none": 0.2, "full": 0.6, "random": 0.4})
        assert got == claims.NOT_SUPPORTED

    def test_not_testable_without_an_ordered_pair_or_metrics(self):
        unordered = {"none": (0.9, 0.0), "full": (0.2, 0.6)}  # full: more expressive but more entangling
        assert self.decide({"cnn": 0.3, "none": 0.2, "full": 0.4}, unordered)[0] == claims.NOT_TESTABLE
        frame = claims.claims_table(table({"cnn": 0.3, "full": 0.4}), PARAMS)
        assert verdict(frame, self.CLAIM)[0] == claims.NOT_TESTABLE


class TestSeedsNeeded:
    """An inconclusive verdict carries the seeds a power calculation says would decide it."""

    def test_decided_verdicts_need_none(self):
        frame = claims.claims_table(table({"cnn": 0.2} | ANSATZE), PARAMS).set_index("claim")
        assert frame.loc["qunn_beats_cnn", "seeds_needed"] is pd.NA
        assert frame.loc["qunn_beats_cnn", "seeds_needed_basis"] == ""

    def test_many_seeds_use_the_spread_across_seeds(self):
        """Five seeds with QuNN - CNN differences of mean 0.01 and a spread: seeds_needed is the power
        calculation (robqunn.stats.seeds_needed, tested against the closed form) on the per-seed differences,
        the most that any comparison needs."""
        from robqunn import stats

        seeds = (1, 2, 3, 4, 5)
        rows = table({"cnn": 0.40, "full": 0.41, "random": 0.41}, seeds=seeds)
        spread = {"qunn-full-ent_rot": [-25, -13, 0, 13, 25], "qunn-random-ent_rot": [-12, -6, 0, 6, 12]}
        for model, offsets in spread.items():
            rows.loc[rows["target"] == model, "n_correct"] += np.array(offsets)
        frame = claims.claims_table(rows, PARAMS).set_index("claim")
        assert frame.loc["qunn_beats_cnn", "verdict"] == claims.INCONCLUSIVE
        expected = max(stats.seeds_needed(0.01, np.std(offsets, ddof=1) / N) for offsets in spread.values())
        assert frame.loc["qunn_beats_cnn", "seeds_needed"] == expected > 5
        assert frame.loc["qunn_beats_cnn", "seeds_needed_basis"] == "t over 5 seeds"

    def test_one_seed_is_a_lower_bound_from_the_digits(self):
        """With one seed the digits' binomial spread stands in for the seeds' and the basis says so."""
        frame = claims.claims_table(table({"cnn": 0.50, "full": 0.52, "random": 0.51}), PARAMS).set_index("claim")
        assert frame.loc["qunn_beats_cnn", "verdict"] == claims.INCONCLUSIVE
        assert frame.loc["qunn_beats_cnn", "seeds_needed"] >= 2
        assert "lower bound" in frame.loc["qunn_beats_cnn", "seeds_needed_basis"]

    def test_a_zero_difference_is_never_decided(self):
        """Identical accuracies: no number of seeds shows one beats the other."""
        frame = claims.claims_table(table({"cnn": 0.50, "full": 0.50}), PARAMS).set_index("claim")
        assert frame.loc["qunn_beats_cnn", "seeds_needed"] is pd.NA
        assert "no number of seeds" in frame.loc["qunn_beats_cnn", "seeds_needed_basis"]


def test_one_row_per_claim_layout_attack():
    """Every claim for each (layout, attack) of the table, each with its source's words."""
    frame = claims.claims_table(table({"cnn": 0.4} | ANSATZE), PARAMS)
    assert len(frame) == len(claims.PAPER) and set(frame["claim"]) == set(claims.PAPER)
    assert frame["paper"].str.len().min() > 20


@pytest.mark.parametrize("low_eps", [0.05, 0.2])
def test_claims_use_the_low_eps(low_eps):
    """No results at the claims' eps: every claim is not testable (never an error)."""
    frame = claims.claims_table(table({"cnn": 0.4} | ANSATZE), ClaimsParams(low_eps, 0.05))
    assert set(frame["verdict"]) == {claims.NOT_TESTABLE}


class TestBasis:
    def test_exact_rows_are_the_ground_truth(self):
        """A claim decided on attack 'exact' is labelled the ground truth; an attack's, an upper bound."""
        frame = table({"cnn": 0.2} | ANSATZE)
        every = pd.concat([frame, frame.assign(attack="exact"), frame.assign(attack="worst_case")], ignore_index=True)
        decided = claims.claims_table(every, PARAMS).drop_duplicates("attack").set_index("attack")["basis"]
        assert decided["exact"] == "exact robust accuracy (ground truth)"
        assert decided["worst_case"] == "worst case over the attacks (an upper bound)"
        transfer = claims.claims_table(every, PARAMS).set_index(["claim", "attack"])["basis"]
        assert transfer["qunn_to_cnn_weaker", "exact"] == "transfer of exact worst cases (an attack)"
        assert decided["fgsm"] == "attack accuracy (an upper bound)"


def versions_table(white: dict[str, float], attack: str = "fgsm") -> pd.DataFrame:
    """White-box accuracies at eps 0.1 of full-<LAYOUT> and its versions, by name suffix ('' the circuit)."""
    rows = []
    for suffix, accuracy in white.items():
        model = f"qunn-full-{LAYOUT}" + (f"-{suffix}" if suffix else "")
        rows.append(
            {"seed": 42, "source": model, "target": model, "kind": "white-box", "attack": attack, "eps": 0.1}
            | {"n_correct": round(accuracy * N), "n_evaluated": N, "accuracy": round(accuracy * N) / N}
        )
    return pd.DataFrame(rows)


class TestNoiseClaims:
    """Each noisy model against its noiseless circuit; each finite-shot model against its expectation."""

    def test_noise_supported_when_every_noisy_model_is_clearly_more_robust(self):
        frame = claims.claims_table(versions_table({"": 0.2, "dep0.1": 0.6, "amp0.1": 0.5}), PARAMS)
        decided, evidence = verdict(frame, "noise_improves_robustness")
        assert decided == claims.SUPPORTED and f"qunn-full-{LAYOUT}-dep0.1 - qunn-full-{LAYOUT} +0.400" in evidence

    def test_one_clearly_weaker_version_refutes(self):
        frame = claims.claims_table(
            versions_table({"": 0.5, "shots100": 0.2, "dep0.1": 0.5, "dep0.1-shots100": 0.5}), PARAMS
        )
        decided, evidence = verdict(frame, "shots_improve_robustness")
        assert decided == claims.NOT_SUPPORTED
        assert f"qunn-full-{LAYOUT}-dep0.1-shots100 - qunn-full-{LAYOUT}-dep0.1 +0.000" in evidence  # its own baseline

    def test_shots_are_not_tested_on_exact_rows(self):
        frame = claims.claims_table(versions_table({"": 0.2, "shots100": 0.3}, attack="exact"), PARAMS)
        assert verdict(frame, "shots_improve_robustness")[0] == claims.NOT_TESTABLE

    def test_without_versions_there_are_no_noise_rows(self):
        frame = claims.claims_table(table({"cnn": 0.4} | ANSATZE), PARAMS)
        assert not set(claims.NOISE_CLAIMS) & set(frame["claim"])

    def test_paper_claims_ignore_the_versions(self):
        """A noisy model is no ansatz of its own: the paper's claims see the noiseless circuits only."""
        plain = claims.claims_table(table({"cnn": 0.4} | ANSATZE), PARAMS)
        noisy = pd.concat([table({"cnn": 0.4} | ANSATZE), versions_table({"dep0.1": 0.99})], ignore_index=True)
        with_versions = claims.claims_table(noisy, PARAMS)
        paper = with_versions[with_versions["claim"].isin(claims.PAPER)].reset_index(drop=True)
        pd.testing.assert_frame_equal(paper, plain)


def robust_table(accuracies: dict[str, tuple[float, float]], seeds=(1, 2, 3, 4, 5), spread=0.01):
    """Exact rows at eps 0 (clean) and 0.1 by model name: {model: (clean, robust at 0.1)}, across ``seeds``."""
    rows = []
    centre = (len(seeds) - 1) / 2
    for model, (clean, robust) in accuracies.items():
        for eps, accuracy in ((0.0, clean), (0.1, robust)):
            for i, seed in enumerate(seeds):
                value = round((accuracy + (i - centre) * spread) * N)
                rows.append(
                    {"seed": seed, "source": model, "target": model, "kind": "white-box", "attack": "exact"}
                    | {"eps": eps, "n_correct": value, "n_evaluated": N, "accuracy": value / N}
                )
    return pd.DataFrame(rows)


ROBUST = {
    "cnn": (0.90, 0.10),
    "cnn-pgdtrained": (0.88, 0.30),
    "cnn-exacttrained": (0.86, 0.40),
    "qunn-none-ent_rot": (0.85, 0.05),
    "qunn-none-ent_rot-pgdtrained": (0.84, 0.40),
    "qunn-none-ent_rot-exacttrained": (0.84, 0.60),
    "qunn-full-ent_rot": (0.85, 0.05),
    "qunn-full-ent_rot-pgdtrained": (0.83, 0.30),
    "qunn-full-ent_rot-exacttrained": (0.82, 0.45),
}


def robust_verdict(frame, claim, method):
    row = frame[(frame["claim"] == claim) & frame["basis"].str.contains(f"{method} training")]
    assert len(row) == 1, frame[["claim", "basis"]]
    return row["verdict"].iloc[0], row["evidence"].iloc[0]


class TestRobustClaims:
    def test_each_claim_is_decided_on_exact_robust_accuracy_at_eps_train(self):
        frame = claims.claims_table(robust_table(ROBUST), PARAMS, robust_eps=0.1)
        beats, evidence = robust_verdict(frame, "robust_qunn_beats_cnn", "exact")
        assert beats == claims.SUPPORTED  # 0.60 and 0.45 against the exact-trained CNN's 0.40
        assert "qunn-none-ent_rot +0.200" in evidence and "clean -0.020" in evidence  # with its clean cost
        # pgd: none 0.40 clearly above the pgd-trained CNN's 0.30, full equal to it
        assert robust_verdict(frame, "robust_qunn_beats_cnn", "pgd")[0] == claims.INCONCLUSIVE
        # gains: none +0.55 (exact), full +0.40: the entangling circuit gains less
        assert robust_verdict(frame, "entangling_gain_more", "exact")[0] == claims.NOT_SUPPORTED
        assert robust_verdict(frame, "exact_beats_pgd_training", "exact vs pgd")[0] == claims.SUPPORTED
        assert set(frame[frame["claim"].isin(claims.ROBUST_CLAIMS)]["attack"]) == {"exact"}

    def test_without_robust_heads_there_is_no_robust_row(self):
        standard = {m: v for m, v in ROBUST.items() if "trained" not in m}
        frame = claims.claims_table(robust_table(standard), PARAMS, robust_eps=0.1)
        assert not frame["claim"].isin(claims.ROBUST_CLAIMS).any()

    def test_one_seed_gives_a_normal_interval_over_digits(self):
        frame = claims.claims_table(robust_table(ROBUST, seeds=(42,)), PARAMS, robust_eps=0.1)
        verdict, evidence = robust_verdict(frame, "entangling_gain_more", "exact")
        assert verdict == claims.NOT_SUPPORTED and "qunn-full-ent_rot - qunn-none-ent_rot -0.150" in evidence
