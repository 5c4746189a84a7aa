"""Ansatz metrics on circuits with known answers, and against PennyLane."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import unitary_group

from robqunn import ansatz_metrics as am
from robqunn.circuits import entanglers_visible, make_circuit_spec, make_qnode, readout_coefficients
from robqunn.config import CircuitParams, CnnBias
from robqunn.vocabulary import Ansatz, Layout

N_QUBITS = 4
ALL_CIRCUITS = [(a, l) for a in Ansatz for l in Layout]


def ghz(n):
    state = np.zeros(2**n, dtype=complex)
    state[0] = state[-1] = 1 / np.sqrt(2)
    return state


def haar_states(n_states, dimension, seed):
    """Haar-random states: the first column of Haar-random unitaries."""
    return unitary_group.rvs(dimension, size=n_states, random_state=seed)[:, :, 0]


class TestMeyerWallach:
    """Q = 2 (1 - mean purity of the one-qubit reduced states)."""

    def test_product_states_have_q_zero(self):
        """Any product state: every reduced state is pure."""
        rng = np.random.default_rng(0)
        states = np.stack([am.encoded_state(rng.uniform(size=N_QUBITS)) for _ in range(20)])
        assert am.meyer_wallach(states, N_QUBITS) == pytest.approx(np.zeros(20), abs=1e-12)

    @pytest.mark.parametrize("n", [2, 3, 4])
    def test_ghz_has_q_one(self, n):
        """GHZ (a Bell state for n = 2): every reduced state is maximally mixed."""
        assert am.meyer_wallach(ghz(n), n) == pytest.approx(1.0, abs=1e-12)

    def test_bell_pair_and_two_product_qubits(self):
        """A Bell pair on qubits 0-1, |00> on 2-3: purities 1/2, 1/2, 1, 1, so Q = 2 (1 - 3/4) = 1/2."""
        state = np.kron(ghz(2), np.eye(4)[0])
        assert am.meyer_wallach(state, N_QUBITS) == pytest.approx(0.5, abs=1e-12)


class TestExpressibility:
    """KL divergence of the fidelity histogram from the Haar one."""

    def test_haar_bins_sum_to_one(self):
        assert am.haar_bin_probabilities(16, 75).sum() == pytest.approx(1.0, abs=1e-12)

    def test_haar_random_states_give_kl_near_zero(self):
        """5,000 pairs of Haar-random 4-qubit states: KL below 0.02 (finite-sample bias ~0.003)."""
        a, b = haar_states(5000, 16, 1), haar_states(5000, 16, 2)
        assert am.expressibility(a, b, 75) < 0.02

    def test_one_fixed_state_is_least_expressive(self):
        """A family of one state has every fidelity 1: KL = -log P_Haar(last bin), the largest possible."""
        state = np.tile(ghz(N_QUBITS), (100, 1))
        expected = -np.log(am.haar_bin_probabilities(16, 75)[-1])
        assert am.expressibility(state, state, 75) == pytest.approx(expected, rel=1e-9)
        assert expected > 50

    def test_fixed_unitary_after_the_family_changes_nothing(self):
        """rot_ent applies fixed ZZ gates after the sampled rotations: the fidelities, and so the KL,
        equal those of the circuit without entanglers."""
        entangled = circuit_of(Ansatz.FULL, Layout.ROT_ENT)
        product = circuit_of(Ansatz.NONE, Layout.ROT_ENT)
        full = am.ansatz_metrics(entangled, 300, 75, np.zeros((1, N_QUBITS)), seed=7)
        none = am.ansatz_metrics(product, 300, 75, np.zeros((1, N_QUBITS)), seed=7)
        assert full["expressibility_kl"] == pytest.approx(none["expressibility_kl"], abs=1e-12)
        assert full["entangling_capability"] > 0.3 and none["entangling_capability"] == pytest.approx(0, abs=1e-12)


def circuit_of(ansatz, layout):
    """The default circuit (phi = pi/4, qml.RandomLayers seed 42) of seed 42."""
    params = CircuitParams(
        kernel_size=2,
        stride=2,
        zz_phi=np.pi / 4,
        random_layers_seed=42,
        random_layers_ratio_imprim=0.3,
        cnn_bias=CnnBias.ZEROS,
        cnn_bias_scale=0.01,
    )
    return make_circuit_spec(ansatz, layout, params, seed=42)


@pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
def test_readout_features_equal_the_qnode(ansatz, layout):
    """The dense polynomial evaluated on patches gives PennyLane's <Z_j> to 1e-10."""
    spec = circuit_of(ansatz, layout)
    patches = np.random.default_rng(3).uniform(size=(16, N_QUBITS))
    expected = np.stack(make_qnode(spec)(patches), axis=-1)
    assert am.readout_features(readout_coefficients(spec), patches) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
def test_feature_effect_is_zero_exactly_when_entanglers_are_invisible(ansatz, layout):
    """Mean |feature change| is 0 for ZZ ansaetze under rot_ent and for none, clearly positive otherwise."""
    spec = circuit_of(ansatz, layout)
    effect = am.feature_effect(spec, np.random.default_rng(4).uniform(size=(200, N_QUBITS)))
    if entanglers_visible(spec):
        assert effect > 0.01
    else:
        assert effect == pytest.approx(0.0, abs=1e-12)


def test_metrics_are_seeded():
    """Same seed, same numbers; another seed, other samples."""
    spec = circuit_of(Ansatz.LINEAR, Layout.ENT_ROT)
    patches = np.random.default_rng(5).uniform(size=(10, N_QUBITS))
    first, again = (am.ansatz_metrics(spec, 50, 75, patches, seed=1) for _ in range(2))
    assert first == again
    assert am.ansatz_metrics(spec, 50, 75, patches, seed=2)["entangling_capability"] != first["entangling_capability"]
