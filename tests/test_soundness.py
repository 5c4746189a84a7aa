"""Attack-soundness checks: each FLAG raised on a synthetic table built to fail it, and the extra attacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robqunn import soundness
from robqunn.artifacts import ChecksRecord
from robqunn.config import ChecksParams, PgdSteps, SpsaParams

N = 1000


def row(source, target, attack, eps, accuracy, seed=42):
    kind = "white-box" if source == target else "transfer"
    correct = round(accuracy * N)
    return {"seed": seed, "source": source, "target": target, "kind": kind, "attack": attack, "eps": eps} | {
        "n_correct": correct,
        "n_evaluated": N,
        "accuracy": correct / N,
    }


def sound_table(model="m", fgsm=0.5, pgd=0.2, mim=0.3, transfer=0.8):
    """White-box FGSM/PGD/MIM at eps 0 and 0.1 on ``model``, and a transfer set from 'other'."""
    rows = []
    for attack, accuracy in (("fgsm", fgsm), ("pgd", pgd), ("mim", mim)):
        rows += [row(model, model, attack, 0.0, 0.9), row(model, model, attack, 0.1, accuracy)]
        rows += [row("other", model, attack, 0.1, transfer)]
    return pd.DataFrame(rows)


def record(model="m", large=0.0, single=0.2, restarts=0.2, spsa=0.5, pgd=0.5, n=200):
    def counts(accuracy):
        return {"n_correct": round(accuracy * n), "n_evaluated": n}

    return ChecksRecord(
        model=model,
        seed=42,
        large_eps={"eps": 0.5} | counts(large),
        restarts={"eps": 0.1, "restarts": 5, "single": counts(single), "all": counts(restarts)},
        spsa={"eps": 0.1, "spsa": counts(spsa), "pgd": counts(pgd)},
    )


def verdicts(table, records, max_accuracy=0.1):
    frame = soundness.checklist(table, records, max_accuracy)
    return dict(zip(frame["check"], frame["verdict"], strict=True))


def test_sound_model_passes_every_check():
    assert set(verdicts(sound_table(), [record()]).values()) == {soundness.PASS}


@pytest.mark.parametrize(
    "table, rec, failing",
    [
        (sound_table(pgd=0.7), record(), "iterative attacks at least as strong as FGSM"),
        (sound_table(transfer=0.1), record(), "transfer not stronger than white-box"),
        (sound_table(), record(large=0.6), "accuracy falls to chance at large eps"),
        (sound_table(), record(single=0.5, restarts=0.2), "PGD restarts not stronger than one run"),
        (sound_table(), record(spsa=0.1, pgd=0.6), "gradient-free SPSA not stronger than PGD"),
    ],
    ids=["pgd-weaker-than-fgsm", "transfer-stronger", "large-eps-robust", "restarts-stronger", "spsa-stronger"],
)
def test_each_failure_is_flagged_alone(table, rec, failing):
    """The check built to fail is FLAGged, with its numbers in the evidence; the others pass."""
    frame = soundness.checklist(table, [rec], 0.1)
    flagged = frame[frame["verdict"] == soundness.FLAG]
    assert flagged["check"].tolist() == [failing]
    assert "[" in flagged["evidence"].iloc[0]  # the interval is in the evidence
    assert flagged["ci_low"].iloc[0] > 0  # a difference (or, at large eps, the accuracy) clearly above 0


def test_difference_within_noise_is_not_flagged():
    """PGD 0.01 above FGSM on 1,000 digits is within the interval: PASS."""
    assert (
        verdicts(sound_table(fgsm=0.50, pgd=0.51, mim=0.50), [record()])["iterative attacks at least as strong as FGSM"]
        == soundness.PASS
    )


def test_missing_extra_attacks_are_reported_not_run():
    checks = verdicts(sound_table(), [])
    assert checks["PGD restarts not stronger than one run"] == soundness.NOT_RUN
    assert checks["iterative attacks at least as strong as FGSM"] == soundness.PASS


def test_seeds_pool_into_a_t_interval():
    """With three seeds the evidence names the t-interval over seeds."""
    table = pd.concat([sound_table().assign(seed=s) for s in (1, 2, 3)], ignore_index=True)
    pgd = (table["attack"] == "pgd") & (table["eps"] == 0.1) & (table["kind"] == "white-box")
    table.loc[pgd, "n_correct"] = [180, 200, 220]
    frame = soundness.checklist(table, [], 0.1)
    evidence = frame.set_index("check").loc["iterative attacks at least as strong as FGSM", "evidence"]
    assert "t over 3 seeds" in evidence


@pytest.fixture(scope="module")
def trained(params, digits):
    """The CNN trained for 2 epochs on 1,000 digits."""
    from robqunn.config import ModelSpec, TrainParams
    from robqunn.features import compute_features
    from robqunn.models import build_model, logits_model
    from robqunn.train import train

    model = build_model(ModelSpec.from_name("cnn"), params.circuit, 42)
    x, y = digits.x_train[:1000], digits.y_train[:1000]
    features = compute_features(model, x), compute_features(model, digits.x_test[:100])
    train(model, features, (y, digits.y_test[:100]), TrainParams(2, 32, 1e-2, 10), 42)
    return model, logits_model(model)


class TestExtraAttacks:
    """The extra attacks on a small trained model: counts, seeding, the threat model."""

    def settings(self, n_images=20):
        spsa = SpsaParams(n_images=3, nb_iter=5, spsa_samples=16, learning_rate=0.01, delta=0.01)
        checks = ChecksParams(n_images, 0.1, 0.5, 0.1, 3, spsa)
        return checks, PgdSteps(nb_iter=5, eps_iter_fraction=0.25, rand_init=True)

    def test_counts_and_seeding(self, trained, digits):
        model, logits = trained
        checks, pgd = self.settings()
        x, y = digits.x_test, digits.y_test
        target = soundness.Target(logits, model, seed=7, name="cnn", batch_size=10)
        first = soundness.extra_attacks(target, x, y, checks, pgd)
        assert first == soundness.extra_attacks(target, x, y, checks, pgd)
        assert first.large_eps["n_evaluated"] == 20 and first.spsa["spsa"]["n_evaluated"] == 3
        restarts = first.restarts
        assert restarts["all"]["n_correct"] <= restarts["single"]["n_correct"]  # a digit must survive every run
        assert first.large_eps["n_correct"] <= 2  # eps 0.5 breaks a plain CNN

    def test_spsa_stays_in_the_threat_model_and_lowers_the_margin(self, trained, digits):
        """SPSA examples lie in the eps-ball and [0, 1] (craft_spsa checks) and differ from the input."""
        from robqunn.attacks import craft_spsa

        _, logits = trained
        spsa = SpsaParams(n_images=2, nb_iter=10, spsa_samples=32, learning_rate=0.01, delta=0.01)
        x, y = digits.x_test[:2], digits.y_test[:2]
        x_adv = craft_spsa(logits, x, y, 0.1, spsa, seed=3)
        assert np.abs(x_adv - x).max() <= 0.1 + 1e-6 and np.abs(x_adv - x).max() > 0.01
        assert np.array_equal(x_adv, craft_spsa(logits, x, y, 0.1, spsa, seed=3))
