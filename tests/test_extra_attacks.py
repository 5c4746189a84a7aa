"""The checks' extra attacks (robqunn.extra_attacks) on small trained models: counts, seeding, the threat
model, and the checklist's verdicts on their records (robqunn.checklist; its own tests: test_checklist.py)."""

from __future__ import annotations

import numpy as np
import pytest

from robqunn import checklist, extra_attacks
from robqunn.config import AttackSteps, ChecksParams, MimSteps, PgdSteps, SpsaParams
from test_checklist import CHECKS, SPSA, sound_table


def train_small(params, digits, name):
    """Model ``name`` (seed 42) with its head trained for 2 epochs on 1,000 digits."""
    from robqunn.config import TrainParams
    from robqunn.features import compute_features
    from robqunn.models import build_model, logits_model
    from robqunn.train import train
    from robqunn.vocabulary import ModelSpec

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
        target = extra_attacks.Target(logits, model, seed=7, name="cnn", batch_size=10)
        first = extra_attacks.extra_attacks(target, x, y, checks, STEPS)
        assert first == extra_attacks.extra_attacks(target, x, y, checks, STEPS)
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
        record = extra_attacks.extra_attacks(target, digits.x_test, digits.y_test, self.settings(200), STEPS)
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
