"""The quanvolution circuit, defined once in PennyLane (docs/design.md, "The quanvolution circuit").

A patch of k*k pixels is encoded by RY(pi * x_k) on qubit k, an ansatz U acts, and <Z_k> is read out
for every qubit. The ansatz is a layer of qml.Rot rotations and a pattern of ZZ entanglers
exp(-i phi Z_p Z_q), in one of two orders (Layout), or PennyLane's qml.RandomLayers. A noisy circuit
(CircuitSpec.noise) runs on default.mixed with one PennyLane channel inserted after every gate, or
before the readout (:func:`with_noise`).

Everything else (the fast TensorFlow layer, the invariance check, the diagrams) is derived from the
functions here, so there is one definition of the circuit to trust.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pennylane as qml

from robqunn.config import CircuitParams
from robqunn.noise import Noise, NoiseChannel
from robqunn.seeding import rng
from robqunn.vocabulary import Ansatz, Layout, ModelSpec

logger = logging.getLogger(__name__)

# Pauli basis of a real single-qubit density matrix: RY(pi x)|0> has
# rho = (I + cos(pi x) Z + sin(pi x) X) / 2, so only I, Z, X appear (never Y).
ENCODED_PAULI_BASIS = (
    np.eye(2),
    np.array([[1.0, 0.0], [0.0, -1.0]]),
    np.array([[0.0, 1.0], [1.0, 0.0]]),
)


@dataclass(frozen=True, eq=False)
class CircuitSpec:
    """Everything that fixes one quanvolution circuit.

    Attributes:
        ansatz: entanglement pattern.
        layout: rotations before (rot_ent) or after (ent_rot) the entanglers.
        n_qubits: number of qubits, k*k for a k x k patch.
        rotation_weights: (n_qubits, 3) angles of the qml.Rot layer, shared by every ansatz of a seed.
        random_weights: (1, n_qubits) angles of qml.RandomLayers (random ansatz only).
        zz_phi: phi of exp(-i phi Z_p Z_q).
        random_layers_seed: qml.RandomLayers' seed (its choice of gates and wires).
        random_layers_ratio_imprim: qml.RandomLayers' fraction of CNOTs.
        seed: the study seed the angles were drawn from.
        noise: the noise channel of the circuit, None for the ideal circuit.
    """

    ansatz: Ansatz
    layout: Layout
    n_qubits: int
    rotation_weights: np.ndarray
    random_weights: np.ndarray
    zz_phi: float
    random_layers_seed: int
    random_layers_ratio_imprim: float
    seed: int
    noise: Noise | None = None

    @property
    def wires(self) -> list[int]:
        return list(range(self.n_qubits))

    def describe(self) -> dict:
        """JSON-friendly identity of the circuit (for model configs, MLflow params, reports)."""
        return {
            "ansatz": self.ansatz.value,
            "layout": self.layout.value,
            "n_qubits": self.n_qubits,
            "zz_phi": self.zz_phi,
            "random_layers_seed": self.random_layers_seed,
            "random_layers_ratio_imprim": self.random_layers_ratio_imprim,
            "seed": self.seed,
            "noise": self.noise and {"channel": self.noise.channel.value, "strength": self.noise.strength},
        }


def make_circuit_spec(
    ansatz: Ansatz, layout: Layout, params: CircuitParams, seed: int, noise: Noise | None = None
) -> CircuitSpec:
    """Draw the circuit's angles from the study seed.

    The rotation angles come from the seed's "rotations" stream alone, so every ansatz of one seed
    gets the same rotations and the ansaetze differ only in their entanglers (a paired comparison).
    The noise draws nothing, so a noisy circuit has the angles of its ideal twin.
    """
    n = params.n_qubits
    return CircuitSpec(
        ansatz=Ansatz(ansatz),
        layout=Layout(layout),
        n_qubits=n,
        rotation_weights=rng(seed, "rotations").uniform(0.0, 2 * np.pi, size=(n, 3)),
        random_weights=rng(seed, "random_layers").uniform(0.0, 2 * np.pi, size=(1, n)),
        zz_phi=params.zz_phi,
        random_layers_seed=params.random_layers_seed,
        random_layers_ratio_imprim=params.random_layers_ratio_imprim,
        seed=seed,
        noise=noise,
    )


def entangler_pairs(ansatz: Ansatz, n_qubits: int) -> list[tuple[int, int]]:
    """Qubit pairs that get a ZZ entangler (empty for none; random has its own CNOTs)."""
    if ansatz is Ansatz.FULL:
        return list(itertools.combinations(range(n_qubits), 2))
    if ansatz is Ansatz.LINEAR:
        return [(q, q + 1) for q in range(n_qubits - 1)]
    if ansatz is Ansatz.STAR:
        return [(0, q) for q in range(1, n_qubits)]
    return []


def encoding(x, wires: Sequence[int]) -> None:
    """Angle encoding RY(pi * x_k) on qubit k; x has shape (..., n_qubits) and may be broadcast."""
    for k, wire in enumerate(wires):
        qml.RY(np.pi * x[..., k], wires=wire)


def rotation_layer(weights: np.ndarray, wires: Sequence[int]) -> None:
    """qml.Rot(alpha, beta, gamma) = RZ(gamma) RY(beta) RZ(alpha) on every qubit."""
    for wire, (alpha, beta, gamma) in zip(wires, weights, strict=True):
        qml.Rot(alpha, beta, gamma, wires=wire)


def zz_entanglers(phi: float, pairs: Sequence[tuple[int, int]]) -> None:
    """exp(-i phi Z_p Z_q) on each pair; qml.IsingZZ(theta) is exp(-i theta/2 ZZ), hence 2 phi."""
    for p, q in pairs:
        qml.IsingZZ(2 * phi, wires=[p, q])


def ansatz(spec: CircuitSpec) -> None:
    """Apply the ansatz U of ``spec`` (after the encoding, before the readout)."""
    if spec.ansatz is Ansatz.RANDOM:
        qml.RandomLayers(
            spec.random_weights,
            wires=spec.wires,
            ratio_imprim=spec.random_layers_ratio_imprim,
            seed=spec.random_layers_seed,
        )
        return
    pairs = entangler_pairs(spec.ansatz, spec.n_qubits)
    if spec.layout is Layout.ROT_ENT:
        rotation_layer(spec.rotation_weights, spec.wires)
        zz_entanglers(spec.zz_phi, pairs)
    else:
        zz_entanglers(spec.zz_phi, pairs)
        rotation_layer(spec.rotation_weights, spec.wires)


def quanvolution_circuit(spec: CircuitSpec, x) -> list:
    """The whole circuit on one patch (or a broadcast batch of patches): encode, U, <Z_k>."""
    encoding(x, spec.wires)
    ansatz(spec)
    return [qml.expval(qml.PauliZ(w)) for w in spec.wires]


def make_qnode(spec: CircuitSpec, device: str = "default.qubit") -> qml.QNode:
    """A QNode mapping patches (..., n_qubits) to the tuple of <Z_k>, k = 0..n_qubits-1.

    A noisy ``spec`` gets :func:`noisy_qnode` (default.mixed, whatever ``device`` says): a state vector
    cannot hold the mixed state that noise makes.
    """
    if spec.noise is not None:
        return noisy_qnode(spec, lambda: [qml.expval(qml.PauliZ(w)) for w in spec.wires])
    return qml.QNode(lambda x: quanvolution_circuit(spec, x), qml.device(device, wires=spec.n_qubits))


NOISE_OPERATIONS = {
    NoiseChannel.DEPOLARIZING: qml.DepolarizingChannel,
    NoiseChannel.AMPLITUDE_DAMPING: qml.AmplitudeDamping,
    NoiseChannel.READOUT: qml.BitFlip,
}


def with_noise(circuit, noise: Noise):
    """``circuit`` (a QNode, tape or quantum function) with the channel of ``noise`` inserted by
    qml.noise.insert: after every gate, on each qubit the gate acts on (depolarizing, amplitude damping),
    or on every qubit just before the measurement (readout: a bit flip)."""
    position = "end" if noise.channel is NoiseChannel.READOUT else "all"
    return qml.noise.insert(circuit, NOISE_OPERATIONS[noise.channel], noise.strength, position=position)


def elementary_gates(spec: CircuitSpec, x) -> None:
    """The encoding and the ansatz as elementary gates (templates decomposed), so that noise inserted
    "after every gate" follows each gate that hardware would run, not each template."""
    encoding(x, spec.wires)
    with qml.QueuingManager.stop_recording():  # decomposing a template would queue its gates twice
        gates = ansatz_operations(spec)
    for op in gates:
        qml.apply(op)


def noisy_qnode(
    spec: CircuitSpec, measure: Callable[[], list], shots: int | None = None, keep_entanglers: bool = True
) -> qml.QNode:
    """The circuit of ``spec`` on default.mixed, its noise (if any) inserted, returning ``measure()``.

    Args:
        measure: the measurements, e.g. ``lambda: qml.probs(wires=spec.wires)``.
        shots: None for exact values; S to estimate them from S shots (PennyLane's own sampling).
        keep_entanglers: False drops the multi-qubit gates after the noise is inserted, so the channels
            that follow them stay (what :func:`entanglers_visible` compares against).
    """

    def circuit(x):
        elementary_gates(spec, x)
        return measure()

    qnode = qml.QNode(circuit, qml.device("default.mixed", wires=spec.n_qubits), shots=shots)
    qnode = qnode if spec.noise is None else with_noise(qnode, spec.noise)
    return qnode if keep_entanglers else _without_entanglers(qnode)


@qml.transform
def _without_entanglers(tape: qml.tape.QuantumScript) -> tuple[list, Callable]:
    """The tape without its multi-qubit gates (every channel is single-qubit, so all stay)."""
    kept = [op for op in tape.operations if len(op.wires) == 1]
    return [tape.copy(operations=kept)], lambda results: results[0]


def ansatz_operations(spec: CircuitSpec, keep_entanglers: bool = True) -> list[qml.operation.Operator]:
    """The ansatz as a flat gate list (templates decomposed), optionally without multi-qubit gates."""
    tape = qml.tape.make_qscript(ansatz)(spec)
    ops = [g for op in tape.operations for g in _decompose_templates(op)]
    return ops if keep_entanglers else [op for op in ops if len(op.wires) == 1]


def _decompose_templates(op: qml.operation.Operator) -> list[qml.operation.Operator]:
    return op.decomposition() if isinstance(op, qml.RandomLayers) else [op]


def count_entanglers(spec: CircuitSpec) -> int:
    """Number of multi-qubit gates of the ansatz (1 for the random ansatz with seed 42)."""
    return sum(len(op.wires) > 1 for op in ansatz_operations(spec))


def ansatz_unitary(spec: CircuitSpec, keep_entanglers: bool = True) -> np.ndarray:
    """The ansatz unitary U (2^n x 2^n), wire 0 the most significant bit (PennyLane's order)."""
    ops = ansatz_operations(spec, keep_entanglers)
    if not ops:
        return np.eye(2**spec.n_qubits, dtype=complex)
    return qml.matrix(qml.tape.QuantumScript(ops), wire_order=spec.wires)


def ansatz_unitaries(spec: CircuitSpec, rotation_weights: np.ndarray, random_weights: np.ndarray) -> np.ndarray:
    """:func:`ansatz_unitary` for a batch of angle draws, ``rotation_weights`` (B, n, 3) and
    ``random_weights`` (B, *spec.random_weights.shape), in one PennyLane call: (B, 2^n, 2^n).

    The gates take batched angles (PennyLane's parameter broadcasting). qml.RandomLayers takes no
    batch, so it is decomposed once, with each angle set to the index of its weight, and each of its
    rotations is rebuilt with that weight's batch of angles.
    """
    batch = len(rotation_weights)
    if spec.ansatz is Ansatz.RANDOM:
        markers = np.arange(spec.random_weights.size, dtype=float).reshape(spec.random_weights.shape)
        angles = np.asarray(random_weights).reshape(batch, -1)
        ops = [
            type(op)(angles[:, int(op.parameters[0])], wires=op.wires) if op.parameters else op
            for op in ansatz_operations(dataclasses.replace(spec, random_weights=markers))
        ]
    else:
        ops = ansatz_operations(dataclasses.replace(spec, rotation_weights=np.moveaxis(rotation_weights, 0, -1)))
    dimension = 2**spec.n_qubits
    matrix = qml.matrix(qml.tape.QuantumScript(ops), wire_order=spec.wires) if ops else np.eye(dimension)
    return np.broadcast_to(matrix, (batch, dimension, dimension)).astype(complex)


def readout_coefficients(spec: CircuitSpec, keep_entanglers: bool = True) -> np.ndarray:
    """Pauli-polynomial form of the readout: coefficients c[p_0, ..., p_{n-1}, j] such that

        <Z_j> = sum_p c[p, j] * prod_k t_k[p_k],   t_k = (1, cos(pi x_k), sin(pi x_k)).

    Why this is exact: the encoded state is the product of rho_k = (I + cos Z + sin X) / 2, so
    <Z_j> = Tr(O_j rho) with O_j = U^dagger Z_j U, and c[p, j] = Tr(O_j P_p) / 2^n over the
    3^n Pauli strings P_p in {I, Z, X}^n (Y terms vanish because rho is real). A noisy circuit has a
    channel E instead of U; its coefficients come from :func:`grid_polynomials`.

    Returns:
        A real array of shape (3,) * n_qubits + (n_qubits,).
    """
    if spec.noise is not None:
        return grid_polynomials(spec, keep_entanglers)[0]
    n = spec.n_qubits
    u = ansatz_unitary(spec, keep_entanglers)
    basis = np.stack(ENCODED_PAULI_BASIS)  # (3, 2, 2)
    coefficients = []
    for j in range(n):
        z_j = qml.matrix(qml.PauliZ(j), wire_order=spec.wires)
        heisenberg = (u.conj().T @ z_j @ u).reshape((2,) * (2 * n))
        coefficients.append(_pauli_components(heisenberg, basis, n))
    return np.stack(coefficients, axis=-1)


def _pauli_components(operator: np.ndarray, basis: np.ndarray, n: int) -> np.ndarray:
    """Tr(O P_p) / 2^n for every Pauli string p, contracting one qubit at a time.

    ``operator`` has axes (row_0..row_{n-1}, col_0..col_{n-1}); each step contracts the first
    remaining (row, col) pair with basis[p, col, row] and appends the new Pauli axis at the end.
    """
    tensor = operator
    for remaining in range(n, 0, -1):
        tensor = np.tensordot(tensor, basis, axes=([0, remaining], [2, 1]))
    return np.real(tensor) / 2**n


PAULI_LETTERS = "IZX"  # order of ENCODED_PAULI_BASIS
NEGLIGIBLE_COEFFICIENT = 1e-12


def readout_polynomial(spec: CircuitSpec) -> tuple[list[str], np.ndarray]:
    """The readout as a sparse Pauli polynomial: the strings that occur and their coefficients.

    Most of the 3^n strings have coefficient exactly 0 (for the ZZ ansaetze at phi = pi/4 each
    <Z_j> has two terms), so keeping only the others makes the fast layer cheap. Strings whose
    coefficients are all below NEGLIGIBLE_COEFFICIENT (float64 round-off of exact zeros) are
    dropped.

    Returns:
        strings: Pauli strings over "IZX", qubit 0 first (e.g. "ZIXI"), for factors
            1, cos(pi x_k), sin(pi x_k);
        coefficients: (len(strings), n_qubits) array, row s holding c[s, j] for every readout j.
    """
    return _sparse(readout_coefficients(spec), spec.n_qubits)


def outcome_polynomial(spec: CircuitSpec) -> tuple[list[str], np.ndarray]:
    """The probabilities of the 2^n measurement outcomes as a sparse Pauli polynomial, like
    :func:`readout_polynomial`: what a finite-shot readout samples from.

    Returns:
        strings: Pauli strings over "IZX", qubit 0 first;
        coefficients: (len(strings), 2**n_qubits) array, column b the probability of outcome b in
            qml.probs' order (wire 0 the most significant bit).
    """
    return _sparse(grid_polynomials(spec)[1], spec.n_qubits)


def _sparse(dense: np.ndarray, n: int) -> tuple[list[str], np.ndarray]:
    """(3,)*n + (m,) coefficients -> the strings with a coefficient above round-off, and their rows."""
    dense = dense.reshape(3**n, -1)
    kept = np.flatnonzero(np.abs(dense).max(axis=1) > NEGLIGIBLE_COEFFICIENT)
    strings = ["".join(PAULI_LETTERS[i] for i in np.unravel_index(s, (3,) * n)) for s in kept]
    return strings, dense[kept]


GRID = (0.0, 0.5, 1.0)  # pixel values at which t(x) = (1, cos pi x, sin pi x) is a row of GRID_FACTORS
GRID_FACTORS = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
GRID_BATCH_ENTRIES = 2**20  # density-matrix entries per QNode call (bounds memory for 9 qubits)


def grid_polynomials(spec: CircuitSpec, keep_entanglers: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The readout and outcome-probability polynomials of any circuit, noisy or not, read off its
    default.mixed QNode (:func:`noisy_qnode`) on the 3^n patches with x_k in {0, 1/2, 1}.

    Why this is exact: after the encoding the circuit is a fixed channel E, so every output Tr(M E(rho))
    is linear in rho = prod_k (I + cos(pi x_k) Z + sin(pi x_k) X) / 2: a polynomial with coefficients
    Tr(E^dagger(M) P_p) / 2^n. On the grid, t_k is a row of GRID_FACTORS (invertible), so the 3^n values
    fix the 3^n coefficients: invert GRID_FACTORS along each qubit's axis.

    Returns:
        readout: (3,)*n + (n,) coefficients of <Z_j>, as :func:`readout_coefficients`;
        outcomes: (3,)*n + (2**n,) coefficients of the outcome probabilities, as :func:`outcome_polynomial`.
    """
    n = spec.n_qubits
    qnode = noisy_qnode(spec, lambda: _readout_and_outcomes(spec), keep_entanglers=keep_entanglers)
    grid = np.array(list(itertools.product(GRID, repeat=n)))  # qubit 0 the slowest axis
    batch = max(1, GRID_BATCH_ENTRIES // 4**n)
    values = np.concatenate([_grid_values(qnode, grid[i : i + batch], n) for i in range(0, len(grid), batch)])
    tensor, inverse = values.reshape((3,) * n + (-1,)), np.linalg.inv(GRID_FACTORS)
    for k in range(n):
        tensor = np.moveaxis(np.tensordot(inverse, tensor, axes=(1, k)), 0, k)
    return tensor[..., :n], tensor[..., n:]


def _readout_and_outcomes(spec: CircuitSpec) -> list:
    return [*(qml.expval(qml.PauliZ(w)) for w in spec.wires), qml.probs(wires=spec.wires)]


def _grid_values(qnode: qml.QNode, patches: np.ndarray, n: int) -> np.ndarray:
    """(B, n + 2^n): the <Z_j> and the outcome probabilities of each patch."""
    results = qnode(patches)
    return np.concatenate([np.stack(results[:n], axis=-1).reshape(-1, n), np.reshape(results[n], (-1, 2**n))], axis=-1)


def entanglers_visible(spec: CircuitSpec, atol: float = 1e-10) -> bool:
    """Do the ansatz's entanglers change the readout for any input patch at all?

    Compares the exact readout polynomial with and without the multi-qubit gates: equal coefficients
    mean equal features for every possible patch. With layout rot_ent the ZZ entanglers are diagonal
    and commute with the Z readout, so this is False for none/full/linear/star (docs/design.md, "The
    invariance property"). For a noisy circuit only the gates go: the channels after them stay, so the
    question remains whether the entanglers' unitary action reaches the readout (the extra noise that
    a hardware entangler brings would otherwise make every entangler "visible").
    """
    with_gates = readout_coefficients(spec, keep_entanglers=True)
    without = readout_coefficients(spec, keep_entanglers=False)
    return not np.allclose(with_gates, without, atol=atol, rtol=0.0)


def circuit_facts(params: CircuitParams, model: ModelSpec, seed: int) -> dict:
    """What a reader must know about a QuNN's circuit ({} for the CNN): do its entanglers reach the readout?

    For a noisy model, of its noisy circuit (:func:`entanglers_visible`; readout_terms counts the noisy
    polynomial's terms). Logs a warning when a circuit holds entanglers that cannot change its features.
    """
    if model.ansatz is None:
        return {}
    spec = make_circuit_spec(model.ansatz, model.layout, params, seed, model.noise)
    visible, n_entanglers = entanglers_visible(spec), count_entanglers(spec)
    if n_entanglers and not visible:
        logger.warning(
            "%s: its %d entanglers do not change the readout (they commute with it); its features equal "
            "those of the same circuit without entanglers%s",
            model.name,
            n_entanglers,
            "" if spec.noise is None else " (the noise after them kept)",
        )
    return {
        "ansatz": model.ansatz.value,
        "layout": model.layout.value,
        "n_entanglers": n_entanglers,
        "entanglers_visible": visible,
        "readout_terms": len(readout_polynomial(spec)[0]),
    }


def example_patch(n_qubits: int) -> np.ndarray:
    """A fixed, readable patch for the diagrams."""
    return np.arange(n_qubits) / n_qubits


def draw_text(spec: CircuitSpec) -> str:
    """Text diagram of the whole circuit on the example patch (qml.draw)."""
    return qml.draw(make_qnode(spec), decimals=2, level="device")(example_patch(spec.n_qubits))


def draw_figure(spec: CircuitSpec, path: str | Path) -> None:
    """Save a matplotlib diagram (qml.draw_mpl) of the whole circuit on the example patch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robqunn.io import atomic_path

    fig, ax = qml.draw_mpl(make_qnode(spec), decimals=2, level="device")(example_patch(spec.n_qubits))
    ax.set_title(f"ansatz {spec.ansatz.value}, layout {spec.layout.value}, seed {spec.seed}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format=Path(path).suffix[1:])
    plt.close(fig)
