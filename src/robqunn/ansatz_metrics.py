"""Ansatz metrics of Sim, Johnson & Aspuru-Guzik (2019), and the entanglers' effect on the features.

- Expressibility: the KL divergence between the distribution of fidelities |<psi_a|psi_b>|^2 of
  pairs of states the ansatz family produces and that of Haar-random states,
  P_Haar(F) = (N - 1)(1 - F)^(N - 2) with N = 2^n, on a histogram of ``n_bins`` bins in [0, 1].
  Low KL: the family covers the state space like Haar-random states; a fixed product circuit is
  far from it.
- Entangling capability: the mean Meyer-Wallach Q = 2 (1 - mean_k Tr rho_k^2) of those states
  (0 for product states, 1 for GHZ states).
- Feature effect: mean |<Z_j> with entanglers - <Z_j> without| on real patches: zero exactly when
  the entanglers commute with the readout (docs/design.md, "The invariance property").

The family: the quanvolution circuit's state before the readout, U(theta) RY(pi x)|0...0>, with the
ansatz's angles theta (qml.Rot angles; the random ansatz's own angles) uniform in [0, 2 pi) and the
patch x uniform in [0, 1]^n, so it is the set of states the layer can produce for some seed and input.
The gates between the angles (entangler pattern, layout, phi, qml.RandomLayers' gate choice) are
those of the circuit spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from robqunn.circuits import CircuitSpec


def sample_states(spec: CircuitSpec, n_samples: int, generator: np.random.Generator) -> np.ndarray:
    """``n_samples`` states of the ansatz family of ``spec`` (module docstring), shape (n_samples, 2^n).

    Each sample draws its rotation angles, random-ansatz angles and inputs in that order; the unitaries
    of all samples are then built in one PennyLane call (circuits.ansatz_unitaries).
    """
    from robqunn.circuits import ansatz_unitaries

    n = spec.n_qubits
    draws = [
        (
            generator.uniform(0.0, 2 * np.pi, size=spec.rotation_weights.shape),
            generator.uniform(0.0, 2 * np.pi, size=spec.random_weights.shape),
            generator.uniform(0.0, 1.0, size=n),
        )
        for _ in range(n_samples)
    ]
    if not draws:
        return np.empty((0, 2**n), dtype=complex)
    rotations, randoms, inputs = (np.stack(column) for column in zip(*draws, strict=True))
    return (ansatz_unitaries(spec, rotations, randoms) @ encoded_state(inputs)[..., None])[..., 0]


def encoded_state(x: np.ndarray) -> np.ndarray:
    """RY(pi x_k)|0> on every qubit k of x (..., n), as product state vectors (..., 2^n), qubit 0 most
    significant."""
    angles = np.pi * np.asarray(x, dtype=float)
    state = np.ones(angles.shape[:-1] + (1,), dtype=complex)
    for k in range(angles.shape[-1]):
        qubit = np.stack([np.cos(angles[..., k] / 2), np.sin(angles[..., k] / 2)], axis=-1)
        state = (state[..., :, None] * qubit[..., None, :]).reshape(angles.shape[:-1] + (-1,))
    return state


def meyer_wallach(states: np.ndarray, n_qubits: int) -> np.ndarray:
    """Meyer-Wallach Q of each state of ``states`` (..., 2^n): 2 (1 - mean over qubits of Tr rho_k^2)."""
    states = np.asarray(states)
    batch = states.shape[:-1]
    tensor = states.reshape(-1, *(2,) * n_qubits)
    purities = []
    for k in range(n_qubits):
        qubit_first = np.moveaxis(tensor, k + 1, 1).reshape(len(tensor), 2, -1)
        rho = qubit_first @ qubit_first.conj().transpose(0, 2, 1)
        purities.append(np.real(np.einsum("bij,bji->b", rho, rho)))
    return (2.0 * (1.0 - np.mean(purities, axis=0))).reshape(batch)


def haar_bin_probabilities(dimension: int, n_bins: int) -> np.ndarray:
    """Probability of each of ``n_bins`` equal fidelity bins for Haar-random states of ``dimension``."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return (1.0 - edges[:-1]) ** (dimension - 1) - (1.0 - edges[1:]) ** (dimension - 1)


def expressibility(states_a: np.ndarray, states_b: np.ndarray, n_bins: int) -> float:
    """KL(P_ansatz || P_Haar) of the fidelities of the pairs (states_a[i], states_b[i])."""
    fidelities = np.abs(np.sum(states_a.conj() * states_b, axis=-1)) ** 2
    counts, _ = np.histogram(np.clip(fidelities, 0.0, 1.0), bins=n_bins, range=(0.0, 1.0))
    p = counts / counts.sum()
    q = haar_bin_probabilities(states_a.shape[-1], n_bins)
    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / q[seen])))


def readout_features(coefficients: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """<Z_j> for each patch (..., n) from the dense readout polynomial (circuits.readout_coefficients)."""
    n = patches.shape[-1]
    flat = patches.reshape(-1, n)
    factors = np.stack([np.ones_like(flat), np.cos(np.pi * flat), np.sin(np.pi * flat)], axis=-1)
    monomials = factors[:, 0]
    for k in range(1, n):
        monomials = (monomials[:, :, None] * factors[:, k, None, :]).reshape(len(flat), -1)
    return (monomials @ coefficients.reshape(-1, n)).reshape(patches.shape)


def feature_effect(spec: CircuitSpec, patches: np.ndarray) -> float:
    """Mean |feature with entanglers - feature without| over ``patches`` (..., n) and readouts."""
    from robqunn.circuits import readout_coefficients

    with_gates = readout_features(readout_coefficients(spec, keep_entanglers=True), patches)
    without = readout_features(readout_coefficients(spec, keep_entanglers=False), patches)
    return float(np.mean(np.abs(with_gates - without)))


def ansatz_metrics(spec: CircuitSpec, n_samples: int, n_bins: int, patches: np.ndarray, seed: int) -> dict:
    """Expressibility, entangling capability and feature effect of one circuit, from one seed."""
    generator = np.random.default_rng(seed)
    states_a = sample_states(spec, n_samples, generator)
    states_b = sample_states(spec, n_samples, generator)
    capability = meyer_wallach(np.concatenate([states_a, states_b]), spec.n_qubits)
    return {
        "ansatz": spec.ansatz.value,
        "layout": spec.layout.value,
        "expressibility_kl": expressibility(states_a, states_b, n_bins),
        "entangling_capability": float(np.mean(capability)),
        "entangling_capability_sem": float(np.std(capability, ddof=1) / np.sqrt(len(capability))),
        "feature_effect": feature_effect(spec, patches),
        "n_samples": n_samples,
    }


def metrics_table(per_seed: pd.DataFrame, auc: pd.DataFrame) -> pd.DataFrame:
    """Per QuNN circuit and attack: the ansatz metrics averaged over seeds, next to its robustness.

    Args:
        per_seed: one row per (seed, model) from :func:`ansatz_metrics` (with ``seed`` and ``model``).
        auc: one row per (seed, model, attack) with ``auc`` (robqunn.evaluate.summary).

    Intervals: over seeds (t) with two or more seeds; with one, the entangling capability's comes
    from its sampled states (1.96 standard errors) and the AUC has none (NaN).
    """
    from robqunn import stats

    rows = []
    joined = auc.merge(per_seed, on=["seed", "model"])
    for (model, attack), group in joined.groupby(["model", "attack"]):
        first = group.iloc[0]
        row = {"model": model, "ansatz": first["ansatz"], "layout": first["layout"], "attack": attack}
        row |= {"n_seeds": len(group), "expressibility_kl": group["expressibility_kl"].mean()}
        row["feature_effect"] = group["feature_effect"].mean()
        if len(group) >= 2:
            capability, robustness = stats.t_interval(group["entangling_capability"]), stats.t_interval(group["auc"])
            row |= {
                "entangling_capability": capability.mean,
                "entangling_capability_ci": capability.high - capability.mean,
            }
            row |= {"auc": robustness.mean, "auc_ci_low": robustness.low, "auc_ci_high": robustness.high}
        else:
            row |= {"entangling_capability": first["entangling_capability"]}
            row |= {"entangling_capability_ci": 1.96 * first["entangling_capability_sem"]}
            row |= {"auc": first["auc"], "auc_ci_low": np.nan, "auc_ci_high": np.nan}
        rows.append(row)
    return pd.DataFrame(rows)
