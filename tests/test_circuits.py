"""Tests of robqunn.circuits: the quanvolution circuit as docs/design.md describes it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pennylane as qml
import pytest

from robqunn.circuits import (
    ansatz_operations,
    ansatz_unitaries,
    ansatz_unitary,
    count_entanglers,
    draw_figure,
    draw_text,
    entangler_pairs,
    entanglers_visible,
    make_circuit_spec,
    make_qnode,
    readout_coefficients,
    readout_polynomial,
)
from robqunn.vocabulary import Ansatz, Layout

ALL_CIRCUITS = [(a, l) for a in Ansatz for l in Layout]
ZZ_ANSATZE = [Ansatz.FULL, Ansatz.LINEAR, Ansatz.STAR]
SEED = 42
EXACT = 1e-10  # float64 agreement between two exact computations


def spec_for(params, ansatz, layout, seed=SEED, **circuit_changes):
    circuit = dataclasses.replace(params.circuit, **circuit_changes)
    return make_circuit_spec(ansatz, layout, circuit, seed)


def qnode_readout(spec, patches):
    return np.stack(make_qnode(spec)(patches), axis=-1)


def polynomial_readout(spec, patches):
    """Evaluate the dense Pauli polynomial with numpy (independent of the Keras layer)."""
    t = np.stack([np.ones_like(patches), np.cos(np.pi * patches), np.sin(np.pi * patches)], axis=-1)
    return np.einsum("abcdj,na,nb,nc,nd->nj", readout_coefficients(spec), t[:, 0], t[:, 1], t[:, 2], t[:, 3])


@pytest.fixture(scope="module")
def patches():
    return np.random.default_rng(0).uniform(size=(64, 4))


class TestDecomposition:
    """The gates of every ansatz, as listed in docs/design.md."""

    @pytest.mark.parametrize(
        "ansatz, pairs",
        [
            (Ansatz.NONE, []),
            (Ansatz.FULL, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),
            (Ansatz.LINEAR, [(0, 1), (1, 2), (2, 3)]),
            (Ansatz.STAR, [(0, 1), (0, 2), (0, 3)]),
            (Ansatz.RANDOM, []),
        ],
    )
    def test_entangler_pairs(self, ansatz, pairs):
        """Each pattern entangles exactly its pairs of qubits."""
        assert entangler_pairs(ansatz, 4) == pairs

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE + [Ansatz.NONE])
    @pytest.mark.parametrize("layout", list(Layout))
    def test_gate_order(self, params, ansatz, layout):
        """rot_ent applies the four Rot gates first, ent_rot the IsingZZ gates first."""
        ops = ansatz_operations(spec_for(params, ansatz, layout))
        rot = [op.name == "Rot" for op in ops]
        n_zz = len(entangler_pairs(ansatz, 4))
        expected = [True] * 4 + [False] * n_zz if layout is Layout.ROT_ENT else [False] * n_zz + [True] * 4
        assert rot == expected
        assert all(op.name == "IsingZZ" for op in ops if op.name != "Rot")

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE)
    def test_entangler_angle(self, params, ansatz):
        """IsingZZ gets 2*phi, so that the gate is exp(-i phi Z Z)."""
        spec = spec_for(params, ansatz, Layout.ROT_ENT, zz_phi=0.3)
        zz = [op for op in ansatz_operations(spec) if op.name == "IsingZZ"]
        expected = qml.math.expm(-1j * 0.3 * np.kron(np.diag([1, -1]), np.diag([1, -1])))
        for op in zz:
            np.testing.assert_allclose(qml.matrix(op), expected, atol=EXACT, rtol=0)

    def test_random_seed_42_is_the_demo_circuit(self, params):
        """With seed 42, qml.RandomLayers gives RY, RX, CNOT(1,3), RZ, RX: one entangler."""
        ops = ansatz_operations(spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT))
        assert [(op.name, op.wires.tolist()) for op in ops] == [
            ("RY", [1]),
            ("RX", [2]),
            ("CNOT", [1, 3]),
            ("RZ", [2]),
            ("RX", [2]),
        ]

    @pytest.mark.parametrize(
        "ansatz, expected",
        [(Ansatz.NONE, 0), (Ansatz.FULL, 6), (Ansatz.LINEAR, 3), (Ansatz.STAR, 3), (Ansatz.RANDOM, 1)],
    )
    def test_count_entanglers(self, params, ansatz, expected):
        """The number of multi-qubit gates is recorded per ansatz."""
        assert count_entanglers(spec_for(params, ansatz, Layout.ROT_ENT)) == expected

    def test_random_layers_seed_changes_the_circuit(self, params):
        """Another RandomLayers seed gives another gate list (the count is recorded, not assumed)."""
        ops_42 = ansatz_operations(spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT))
        ops_1 = ansatz_operations(spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT, random_layers_seed=1))
        assert [op.name for op in ops_1] != [op.name for op in ops_42]
        assert count_entanglers(spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT, random_layers_seed=1)) == 2

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_unitary(self, params, ansatz, layout):
        """The ansatz matrix is unitary."""
        u = ansatz_unitary(spec_for(params, ansatz, layout))
        np.testing.assert_allclose(u.conj().T @ u, np.eye(16), atol=EXACT, rtol=0)


class TestWeights:
    """Angles come from the study seed; rotations are shared by every ansatz of a seed."""

    def test_rotations_shared_across_ansatze(self, params):
        """Every ansatz and layout of one seed has the same Rot angles (a paired comparison)."""
        specs = [spec_for(params, a, l) for a, l in ALL_CIRCUITS]
        for spec in specs[1:]:
            np.testing.assert_array_equal(spec.rotation_weights, specs[0].rotation_weights)

    def test_seed_reproducible(self, params):
        """The same seed draws the same angles."""
        a, b = spec_for(params, Ansatz.FULL, Layout.ROT_ENT), spec_for(params, Ansatz.FULL, Layout.ROT_ENT)
        np.testing.assert_array_equal(a.rotation_weights, b.rotation_weights)
        np.testing.assert_array_equal(a.random_weights, b.random_weights)

    def test_seeds_differ(self, params):
        """Another seed draws other angles."""
        a, b = spec_for(params, Ansatz.FULL, Layout.ROT_ENT), spec_for(params, Ansatz.FULL, Layout.ROT_ENT, seed=7)
        assert not np.allclose(a.rotation_weights, b.rotation_weights)

    def test_angle_range_and_shape(self, params):
        """Rot angles are (n_qubits, 3) and RandomLayers angles (1, n_qubits), all in [0, 2 pi)."""
        spec = spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT)
        assert spec.rotation_weights.shape == (4, 3) and spec.random_weights.shape == (1, 4)
        for w in (spec.rotation_weights, spec.random_weights):
            assert np.all((w >= 0) & (w < 2 * np.pi))


class TestCorrectness:
    """The Pauli-polynomial form of the readout against the PennyLane QNode and analytic targets."""

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_polynomial_equals_qnode(self, params, patches, ansatz, layout):
        """sum_p c[p, j] prod_k t_k[p_k] equals the QNode's <Z_j> on random patches."""
        spec = spec_for(params, ansatz, layout)
        np.testing.assert_allclose(polynomial_readout(spec, patches), qnode_readout(spec, patches), atol=EXACT, rtol=0)

    @pytest.mark.parametrize("ansatz, layout", [(Ansatz.FULL, Layout.ENT_ROT), (Ansatz.RANDOM, Layout.ROT_ENT)])
    def test_polynomial_equals_qnode_nine_qubits(self, params, ansatz, layout):
        """The same holds for a 3x3 kernel (9 qubits)."""
        spec = spec_for(params, ansatz, layout, kernel_size=3, stride=3)
        x = np.random.default_rng(1).uniform(size=(8, 9))
        strings, coefficients = readout_polynomial(spec)
        letters = {"I": np.ones_like(x), "Z": np.cos(np.pi * x), "X": np.sin(np.pi * x)}
        monomials = np.stack([np.prod([letters[p][:, k] for k, p in enumerate(s)], axis=0) for s in strings], 1)
        np.testing.assert_allclose(monomials @ coefficients, qnode_readout(spec, x), atol=EXACT, rtol=0)

    @pytest.mark.parametrize("ansatz", [Ansatz.NONE] + ZZ_ANSATZE)
    def test_pixelwise_formula_without_visible_entanglers(self, params, patches, ansatz):
        """Under rot_ent, <Z_k> = cos(t) cos(pi x_k) - sin(t) cos(f) sin(pi x_k) for Rot(f, t, w) on qubit k."""
        spec = spec_for(params, ansatz, Layout.ROT_ENT)
        phi, theta = spec.rotation_weights[:, 0], spec.rotation_weights[:, 1]
        expected = np.cos(theta) * np.cos(np.pi * patches) - np.sin(theta) * np.cos(phi) * np.sin(np.pi * patches)
        np.testing.assert_allclose(qnode_readout(spec, patches), expected, atol=EXACT, rtol=0)

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_polynomial_is_sparse_and_complete(self, params, ansatz, layout):
        """The sparse polynomial keeps every coefficient that is not a round-off zero."""
        spec = spec_for(params, ansatz, layout)
        strings, coefficients = readout_polynomial(spec)
        dense = readout_coefficients(spec).reshape(-1, 4)
        assert len(strings) < 81
        np.testing.assert_allclose(np.abs(coefficients).sum(), np.abs(dense).sum(), atol=1e-9, rtol=0)


class TestInvariance:
    """docs/design.md's invariance property: under rot_ent, ZZ entanglers commute with the Z readout."""

    @pytest.mark.parametrize(
        "ansatz, layout, visible",
        [(a, Layout.ROT_ENT, False) for a in [Ansatz.NONE] + ZZ_ANSATZE]
        + [(a, Layout.ENT_ROT, True) for a in ZZ_ANSATZE]
        + [(Ansatz.NONE, Layout.ENT_ROT, False), (Ansatz.RANDOM, Layout.ROT_ENT, True)],
    )
    def test_entanglers_visible(self, params, ansatz, layout, visible):
        """entanglers_visible is False for none/full/linear/star under rot_ent, True under ent_rot."""
        assert entanglers_visible(spec_for(params, ansatz, layout)) is visible

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE)
    def test_rot_ent_equals_no_entanglers(self, params, patches, ansatz):
        """Under rot_ent every ZZ ansatz reads out exactly what `none` reads out."""
        none = qnode_readout(spec_for(params, Ansatz.NONE, Layout.ROT_ENT), patches)
        np.testing.assert_allclose(qnode_readout(spec_for(params, ansatz, Layout.ROT_ENT), patches), none, atol=EXACT)

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE)
    def test_ent_rot_differs_from_no_entanglers(self, params, patches, ansatz):
        """Under ent_rot the entanglers change the readout by O(1)."""
        none = qnode_readout(spec_for(params, Ansatz.NONE, Layout.ENT_ROT), patches)
        assert np.abs(qnode_readout(spec_for(params, ansatz, Layout.ENT_ROT), patches) - none).max() > 0.1

    def test_zero_angle_entanglers_invisible(self, params):
        """With phi = 0 the ZZ gates are the identity, so even ent_rot reports them invisible."""
        assert not entanglers_visible(spec_for(params, Ansatz.FULL, Layout.ENT_ROT, zz_phi=0.0))


class TestDrawing:
    """Diagrams of every ansatz."""

    @pytest.mark.parametrize("ansatz, gate", [(Ansatz.FULL, "IsingZZ"), (Ansatz.NONE, "Rot"), (Ansatz.RANDOM, "X")])
    def test_text(self, params, ansatz, gate):
        """qml.draw shows the encoding, the ansatz's gates and the four readouts."""
        text = draw_text(spec_for(params, ansatz, Layout.ENT_ROT))
        assert "RY" in text and gate in text and text.count("<Z>") == 4

    def test_figure(self, params, tmp_path):
        """qml.draw_mpl writes a PNG image."""
        path = tmp_path / "full.png"
        draw_figure(spec_for(params, Ansatz.FULL, Layout.ENT_ROT), path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("ansatz", list(Ansatz))
@pytest.mark.parametrize("layout", list(Layout))
def test_batched_unitaries_equal_one_at_a_time(params, ansatz, layout):
    """ansatz_unitaries (one broadcast PennyLane call, RandomLayers decomposed once) gives each draw's
    ansatz_unitary exactly (tolerance 1e-12), for every ansatz and layout."""
    spec = spec_for(params, ansatz, layout)
    generator = np.random.default_rng(7)
    rotations = generator.uniform(0, 2 * np.pi, size=(5, *spec.rotation_weights.shape))
    randoms = generator.uniform(0, 2 * np.pi, size=(5, *spec.random_weights.shape))
    batched = ansatz_unitaries(spec, rotations, randoms)
    for i in range(5):
        single = ansatz_unitary(dataclasses.replace(spec, rotation_weights=rotations[i], random_weights=randoms[i]))
        np.testing.assert_allclose(batched[i], single, rtol=0, atol=1e-12)
