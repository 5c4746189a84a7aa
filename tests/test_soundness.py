"""Attack-soundness checks: each FLAG raised on a synthetic table built to fail it, and the extra attacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robqunn import soundness
from robqunn.artifacts import ChecksRecord
from robqunn.config import AttackSteps, ChecksParams, MimSteps, PgdSteps, SpsaParams

N = 1000


def row(source, target, attack, eps, accuracy, seed=42):
    kind = "white-box" if source == target else "transfer"
    correct = round(accuracy * N)
    return {"seed": seed, "source": source, "target": target, "kind": kind, "attack": attack, "eps": eps} | {
        "n_correct": correct,
        "n_evaluated": N,
        "accuracy": correct / N,
    }


def sound_table(model="m", fgsm=0.5, pgd=0.2, mim=0.3, transfer=0.8, missed=0.0):
    """White-box FGSM/PGD/MIM at eps 0 and 0.1 on ``model`` (each missing ``missed`` of the digits that exact
    verification breaks), and a transfer set from 'other'."""
    rows = []
    for attack, accuracy in (("fgsm", fgsm), ("pgd", pgd), ("mim", mim)):
        rows += [row(model, model, attack, 0.0, 0.9), row(model, model, attack, 0.1, accuracy)]
        rows[-2]["n_missed"], rows[-1]["n_missed"] = 0, round(missed * N)
        rows += [row("other", model, attack, 0.1, transfer)]
    return pd.DataFrame(rows).astype({"n_missed": "Int64"})


def record(model="m", large=0.0, single=0.2, restarts=0.2, spsa=0.5, pgd=0.5, n=200, **variants):
    """A checks record of a sound model; ``variants`` override the zero-gradient fractions (clean,
    jittered) and the accuracies of the attack variants (jittered_fgsm, rfgsm, mim_random_start, margin)."""

    def counts(accuracy):
        return {"n_correct": round(accuracy * n), "n_evaluated": n}

    def fractions(mean):
        return {"mean": mean, "sd": 0.01 if mean else 0.0, "n_digits": n}

    get = {"clean": 0.0, "jittered": 0.0, "jittered_fgsm": 0.5, "rfgsm": 0.5, "mim_random_start": 0.3, "margin": 0.2}
    get |= variants
    return ChecksRecord(
        model=model,
        seed=42,
        large_eps={"eps": 0.5} | counts(large),
        restarts={"eps": 0.1, "restarts": 5, "single": counts(single), "all": counts(restarts)},
        spsa={"eps": 0.1, "spsa": counts(spsa), "pgd": counts(pgd)},
        zero_gradients={"jitter": 1e-3, "clean": fractions(get["clean"]), "jittered": fractions(get["jittered"])},
        single_step={
            "eps": 0.1,
            "alpha": 0.05,
            "fgsm": counts(0.5),
            "jittered_fgsm": counts(get["jittered_fgsm"]),
            "rfgsm": counts(get["rfgsm"]),
        },
        momentum={"eps": 0.1, "mim": counts(0.3), "mim_random_start": counts(get["mim_random_start"])},
        loss={"eps": 0.1, "cross_entropy": counts(single), "margin": counts(get["margin"])},
    )


SPSA = SpsaParams(n_images=3, nb_iter=5, spsa_samples=16, learning_rate=0.01, delta=0.01)
CHECKS = ChecksParams(200, 0.1, 0.5, 0.1, 5, 1e-3, 0.01, 0.5, 0.05, SPSA)


def verdicts(table, records, params=CHECKS):
    frame = soundness.checklist(table, records, params)
    return dict(zip(frame["check"], frame["verdict"], strict=True))


def test_sound_model_passes_every_check():
    assert set(verdicts(sound_table(), [record()]).values()) == {soundness.PASS}


@pytest.mark.parametrize(
    "table, rec, failing",
    [
        (sound_table(pgd=0.7), record(), soundness.ITERATIVE),
        (sound_table(transfer=0.1), record(), soundness.TRANSFER),
        (sound_table(), record(large=0.6), soundness.LARGE_EPS),
        (sound_table(), record(single=0.5, restarts=0.2, margin=0.5), soundness.RESTARTS),
        (sound_table(), record(spsa=0.1, pgd=0.6), soundness.SPSA),
        (sound_table(), record(clean=0.7), soundness.ZERO_CLEAN),
        (sound_table(), record(jittered=0.05), soundness.ZERO_JITTERED),
        (sound_table(), record(jittered_fgsm=0.2), soundness.JITTERED_FGSM),
        (sound_table(), record(rfgsm=0.3), soundness.RFGSM),
        (sound_table(), record(mim_random_start=0.1), soundness.MIM_RANDOM_START),
        (sound_table(), record(margin=0.05), soundness.MARGIN_LOSS),
    ],
    ids=[
        "pgd-weaker-than-fgsm",
        "transfer-stronger",
        "large-eps-robust",
        "restarts-stronger",
        "spsa-stronger",
        "zero-gradients",
        "zero-gradients-jittered",
        "jittered-fgsm-stronger",
        "rfgsm-stronger",
        "mim-random-start-stronger",
        "margin-loss-stronger",
    ],
)
def test_each_failure_is_flagged_alone(table, rec, failing):
    """The check built to fail is FLAGged, with its numbers in the evidence, its cause and what to trust
    instead; the others pass and name no cause."""
    frame = soundness.checklist(table, [rec], CHECKS)
    flagged = frame[frame["verdict"] == soundness.FLAG]
    assert flagged["check"].tolist() == [failing]
    assert "[" in flagged["evidence"].iloc[0]  # the interval is in the evidence
    assert flagged["ci_low"].iloc[0] > 0  # a difference (or, at large eps, the accuracy) clearly above 0
    assert flagged["cause"].iloc[0] and "exact" in flagged["trust_instead"].iloc[0]
    assert (frame.loc[frame["verdict"] != soundness.FLAG, ["cause", "trust_instead"]] == "").all().all()


class TestAttackGap:
    """An attack that misses more of the digits exact verification breaks than the tolerance is weak."""

    def test_a_clear_gap_flags_every_attack_that_has_it(self):
        frame = soundness.checklist(sound_table(missed=0.2), [record()], CHECKS).set_index("check")
        for attack in ("fgsm", "pgd", "mim"):
            line = frame.loc[soundness.attack_gap_check(attack)]
            assert line["verdict"] == soundness.FLAG and line["ci_low"] > CHECKS.attack_gap_tolerance
            assert "eps 0.1" in line["evidence"] and "weak" in line["cause"]

    def test_a_gap_within_tolerance_passes(self):
        """0.06 missed of 1,000 digits: its interval reaches below the 0.05 tolerance."""
        frame = soundness.checklist(sound_table(missed=0.06), [record()], CHECKS).set_index("check")
        assert frame.loc[soundness.attack_gap_check("pgd"), "verdict"] == soundness.PASS

    def test_without_exact_rows_the_check_is_not_run(self):
        table = sound_table().assign(n_missed=pd.NA).astype({"n_missed": "Int64"})
        frame = soundness.checklist(table, [record()], CHECKS).set_index("check")
        assert frame.loc[soundness.attack_gap_check("fgsm"), "verdict"] == soundness.NOT_RUN


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
    frame = soundness.checklist(table, [], CHECKS)
    evidence = frame.set_index("check").loc[soundness.ITERATIVE, "evidence"]
    assert "t over 3 seeds" in evidence


def train_small(params, digits, name):
    """Model ``name`` (seed 42) with its head trained for 2 epochs on 1,000 digits."""
    from robqunn.config import ModelSpec, TrainParams
    from robqunn.features import compute_features
    from robqunn.models import build_model, logits_model
    from robqunn.train import train

    model = build_model(ModelSpec.from_name(name), params.circuit, 42)
    x, y = digits.x_train[:1000], digits.y_train[:1000]
    features = compute_features(model, x), compute_features(model, digits.x_test[:100])
    train(model, features, (y, digits.y_test[:100]), TrainParams(2, 32, 1e-2), 42)
    return model, logits_model(model)


@pytest.fixture(scope="module")
def trained(params, digits):
    """The CNN: its frozen Conv2D has zero bias, so its ReLUs are off on black patches (exactly-zero gradients)."""
    return train_small(params, digits, "cnn")


STEPS = AttackSteps(10, PgdSteps(nb_iter=5, eps_iter_fraction=0.25, rand_init=True), MimSteps(10, 0.2, 1.0))


class TestExtraAttacks:
    """The extra attacks on a small trained model: counts, seeding, the threat model."""

    def settings(self, n_images=20):
        return ChecksParams(n_images, 0.1, 0.5, 0.1, 3, 1e-3, 0.01, 0.5, 0.05, SPSA)

    def test_counts_and_seeding(self, trained, digits):
        model, logits = trained
        checks = self.settings()
        x, y = digits.x_test, digits.y_test
        target = soundness.Target(logits, model, seed=7, name="cnn", batch_size=10)
        first = soundness.extra_attacks(target, x, y, checks, STEPS)
        assert first == soundness.extra_attacks(target, x, y, checks, STEPS)
        assert first.large_eps["n_evaluated"] == 20 and first.spsa["spsa"]["n_evaluated"] == 3
        restarts = first.restarts
        assert restarts["all"]["n_correct"] <= restarts["single"]["n_correct"]  # a digit must survive every run
        assert first.large_eps["n_correct"] <= 2  # eps 0.5 breaks a plain CNN
        assert first.loss["cross_entropy"] == restarts["single"]  # the CE reference is the first PGD run
        assert first.zero_gradients["clean"]["n_digits"] == 20

    @pytest.mark.parametrize("name", ["cnn", "qunn-none-rot_ent", "qunn-full-ent_rot"])
    def test_zero_gradient_model_is_flagged_and_qunns_pass(self, params, digits, trained, name):
        """The zero-bias ReLU CNN: the zero-gradient check and the random-start checks of FGSM and MIM FLAG
        (their plain attacks leave black pixels alone); on QuNNs, whose cos/sin readout has nonzero
        gradients almost everywhere, the same checks pass."""
        model, logits = trained if name == "cnn" else train_small(params, digits, name)
        target = soundness.Target(logits, model, seed=7, name=name, batch_size=100)
        record = soundness.extra_attacks(target, digits.x_test, digits.y_test, self.settings(200), STEPS)
        frame = soundness.checklist(sound_table(name), [record], CHECKS).set_index("check")
        expected = soundness.FLAG if name == "cnn" else soundness.PASS
        for check in (soundness.ZERO_CLEAN, soundness.JITTERED_FGSM, soundness.MIM_RANDOM_START):
            assert frame.loc[check, "verdict"] == expected, frame.loc[check, "evidence"]

    def test_spsa_stays_in_the_threat_model_and_lowers_the_margin(self, trained, digits):
        """SPSA examples lie in the eps-ball and [0, 1] (craft_spsa checks) and differ from the input."""
        from robqunn.attacks import craft_spsa

        _, logits = trained
        spsa = SpsaParams(n_images=2, nb_iter=10, spsa_samples=32, learning_rate=0.01, delta=0.01)
        x, y = digits.x_test[:2], digits.y_test[:2]
        x_adv = craft_spsa(logits, x, y, 0.1, spsa, seed=3)
        assert np.abs(x_adv - x).max() <= 0.1 + 1e-6 and np.abs(x_adv - x).max() > 0.01
        assert np.array_equal(x_adv, craft_spsa(logits, x, y, 0.1, spsa, seed=3))
