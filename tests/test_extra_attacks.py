"""The checks' extra attacks (robqunn.extra_attacks) on small trained models: counts, seeding, the threat
model, and the checklist's verdicts on their records (robqunn.checklist; its own tests: test_checklist.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robqunn import checklist, extra_attacks
from robqunn.config import AttackSteps, ChecksParams, MimSteps, PgdSteps, SpsaParams
from test_checklist import AUTOATTACK, CHECKS, SPSA, sound_table


def train_small(params, digits, name):
    """Model ``name`` (seed 42) with its head trained for 2 epochs on 1,000 digits."""
    from robqunn.features import compute_features
    from robqunn.models import build_model, logits_model
    from robqunn.train import train
    from robqunn.vocabulary import ModelSpec

    model = build_model(ModelSpec.from_name(name), params.circuit, 42)
    x, y = digits.x_train[:1000], digits.y_train[:1000]
    features = compute_features(model, x), compute_features(model, digits.x_test[:100])
    settings = dataclasses.replace(params.train, epochs=2, batch_size=32, learning_rate=1e-2)
    train(model, features, (y, digits.y_test[:100]), settings, 42)
    return model, logits_model(model)


@pytest.fixture(scope="module")
def trained(params, digits):
    """The CNN: its frozen Conv2D has zero bias, so its ReLUs are off on black patches (exactly-zero gradients)."""
    return train_small(params, digits, "cnn")


STEPS = AttackSteps(10, PgdSteps(nb_iter=5, eps_iter_fraction=0.25, rand_init=True), MimSteps(10, 0.2, 1.0))


class TestExtraAttacks:
    """The extra attacks on a small trained model: counts, seeding, the threat model."""

    def settings(self, n_images=20):
        return ChecksParams(n_images, 0.1, 0.5, 0.1, 3, 1e-3, 0.01, 0.5, 0.05, SPSA, AUTOATTACK)

    def test_counts_and_seeding(self, params, trained, digits):
        model, logits = trained
        checks = self.settings()
        x, y = digits.x_test, digits.y_test
        target = extra_attacks.Target(logits, model, seed=7, name="cnn", batch_size=10)
        first = extra_attacks.extra_attacks(target, x, y, checks, STEPS, params.exact)
        assert first == extra_attacks.extra_attacks(target, x, y, checks, STEPS, params.exact)
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
        target = extra_attacks.Target(logits, model, seed=7, name=name, batch_size=100)
        record = extra_attacks.extra_attacks(
            target, digits.x_test, digits.y_test, self.settings(200), STEPS, params.exact
        )
        frame = checklist.checklist(sound_table(name), [record], CHECKS).set_index("check")
        expected = checklist.FLAG if name == "cnn" else checklist.PASS
        for check in (checklist.ZERO_CLEAN, checklist.JITTERED_FGSM, checklist.MIM_RANDOM_START):
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


class TestAutoAttack:
    """ART's AutoAttack: in the threat model, never below the exact robust accuracy on a digit, and a digit it
    breaks that exact verification certifies stops the run."""

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_it_never_breaks_a_certified_digit(self, params, digits, trained, name):
        from robqunn.attacks import autoattack
        from robqunn.exact import verify

        model, logits = trained if name == "cnn" else train_small(params, digits, name)
        x, y = digits.x_test[:60], digits.y_test[:60]
        x_adv = autoattack(logits, x, y, 0.1, AUTOATTACK, 30)
        broken = np.argmax(np.asarray(model(x_adv)), axis=1) != y
        exact = verify(model, x, y, 0.1, params.exact.budget, params.exact.tolerance)
        assert not np.any(broken & exact.robust)
        assert np.mean(~broken) >= exact.accuracy_lower
        assert np.mean(broken) > 0.5  # it does break digits: eps 0.1 leaves these quick heads little

    def test_a_contradiction_with_exact_verification_fails(self, params, digits, trained, monkeypatch):
        """Exact verification that certified every digit (a planted bug) contradicts AutoAttack's broken digits."""
        from robqunn import exact

        model, logits = trained
        real = exact.verify

        def certifies_everything(*args, **kwargs):
            return dataclasses.replace(real(*args, **kwargs), robust=np.ones(len(args[2]), bool))

        monkeypatch.setattr(exact, "verify", certifies_everything)
        target = extra_attacks.Target(logits, model, seed=7, name="cnn", batch_size=20)
        with pytest.raises(extra_attacks.SoundnessError, match="AutoAttack breaks .* digits that exact verification"):
            extra_attacks._autoattack(
                target, (digits.x_test[:20], digits.y_test[:20]), CHECKS, np.ones(20), params.exact
            )
